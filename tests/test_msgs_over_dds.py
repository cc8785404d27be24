"""gr2_msgs cross process boundaries over DDS unchanged (real rclpy, Fast DDS, two OS processes)."""

from __future__ import annotations

import math
import struct
import sys
import time

import pytest
import rclpy
from geometry_msgs.msg import Pose
from rclpy.qos import QoSProfile, ReliabilityPolicy

from gr2_contract import ARM_JOINTS, BASE_FRAME
from gr2_msgs.msg import ActionChunk, JointCommand

pytestmark = pytest.mark.multiprocess


def _action_chunk() -> ActionChunk:
    msg = ActionChunk()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 123_456_789
    msg.header.frame_id = BASE_FRAME
    msg.dt = 0.1
    for i in range(20):
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = 0.4 + i * 1e-3, -0.1 / 3, math.pi / 10
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = 1.0, 0.0, 0.0, 6.123e-17
        msg.poses.append(pose)
    msg.gripper = [i / 19 for i in range(20)]  # not representable in float32: checks the rounding is stable
    msg.sequence = 2**63 + 7
    msg.instruction = "pick up the red cube — and place it in the bowl"
    return msg


def _joint_command() -> JointCommand:
    msg = JointCommand()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 42, 5_000_000
    msg.name = list(ARM_JOINTS)
    msg.position = [0.1, -2.24, math.pi, -1e-300, 5e-324, 2.57, -math.pi]
    msg.velocity = [1.3963, -1.3963, 0.0, -0.0, 1.2218, 1e-9, -1.2218]
    return msg


def _float32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def test_action_chunk_and_joint_command_round_trip_between_processes(node_processes):
    echo = node_processes.start([sys.executable, "-m", "gr2_testing.echo_node"], name="echo_node")
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("round_trip_test", context=context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        sent = {"action_chunk": _action_chunk(), "joint_command": _joint_command()}
        types = {"action_chunk": ActionChunk, "joint_command": JointCommand}
        received: dict[str, object] = {}
        pubs = {k: node.create_publisher(types[k], f"/test_echo/{k}/in", qos) for k in sent}
        for k in sent:
            node.create_subscription(types[k], f"/test_echo/{k}/out", lambda m, k=k: received.setdefault(k, m), qos)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 30.0
        while len(received) < len(sent) and time.monotonic() < deadline:
            node_processes.assert_running()
            for k, pub in pubs.items():
                if k not in received:
                    pub.publish(sent[k])
            executor.spin_once(timeout_sec=0.2)
        assert set(received) == set(sent), f"no echo for {set(sent) - set(received)} within 30 s"

        chunk, cmd = received["action_chunk"], received["joint_command"]
        assert chunk == sent["action_chunk"]          # field-wise equality of the whole message
        assert cmd == sent["joint_command"]
        # Exactness spelled out: float64 bit-exact, float32 exactly the float32 rounding, uint64 high bit kept.
        assert [p.position.y for p in chunk.poses] == [-0.1 / 3] * 20
        assert list(chunk.gripper) == [_float32(i / 19) for i in range(20)]
        assert chunk.sequence == 2**63 + 7 and chunk.dt == 0.1
        assert chunk.instruction == "pick up the red cube — and place it in the bowl"
        assert (chunk.header.stamp.sec, chunk.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
        assert list(cmd.position) == list(_joint_command().position) and list(cmd.name) == list(ARM_JOINTS)
        assert math.copysign(1.0, cmd.velocity[3]) == -1.0  # -0.0 survives
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert node_processes.stop(echo) == 0, node_processes.output(echo)
