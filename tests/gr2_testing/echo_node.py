"""A node that echoes gr2_msgs back on other topics, so a test in another process can check
that messages cross DDS unchanged (serialisation, QoS, type support of the built interfaces)."""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from gr2_msgs.msg import ActionChunk, JointCommand

ECHOED = {"action_chunk": ActionChunk, "joint_command": JointCommand}
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class EchoNode(Node):
    def __init__(self):
        super().__init__("gr2_echo")
        self._pubs = {}
        for name, msg_type in ECHOED.items():
            self._pubs[name] = self.create_publisher(msg_type, f"/test_echo/{name}/out", QOS)
            self.create_subscription(msg_type, f"/test_echo/{name}/in",
                                     lambda msg, n=name: self._pubs[n].publish(msg), QOS)


def main() -> None:
    rclpy.init()
    node = EchoNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
