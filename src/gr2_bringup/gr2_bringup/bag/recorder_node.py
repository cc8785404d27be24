"""Record ROS topics into a rosbag2 MCAP bag on hosts without `ros2 bag` (thin rclpy node).

Like `ros2 bag record`, it finds each requested topic's type on the graph (topics may appear
later), subscribes with raw=True so the CDR bytes go to the bag untouched, stamps each message
with its receive time, and stores the publishers' offered QoS. The bag is finalised (MCAP
summary + metadata.yaml) on SIGINT/SIGTERM or after `max_duration`.

    python -m gr2_bringup.bag.recorder_node --ros-args -p output:=bags/run1
    gr2-bag record -o bags/run1 [extra topics...]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from gr2_contract import HIGH_RATE_HISTORY_DEPTH, RECORDED_TOPICS
from gr2_contract.parameters import declare_dataclass

from .qos import is_sensor_stream
from .ros_types import message_class
from .writer import BagWriter, OfferedQos


def default_bag_name() -> str:
    """The bag directory name when none is given: gr2_bag_<local date and time>, as `ros2 bag` names it."""
    return datetime.now().strftime("gr2_bag_%Y_%m_%d-%H_%M_%S")


def _offered(info) -> OfferedQos:
    q = info.qos_profile
    return OfferedQos(int(q.reliability), int(q.durability), int(q.history), int(q.depth),
                      q.deadline.nanoseconds, q.lifespan.nanoseconds, int(q.liveliness),
                      q.liveliness_lease_duration.nanoseconds)


@dataclass
class RecorderParameters:
    """The recorder node's parameters (gr2_contract.parameters.declare_dataclass)."""
    output: str = field(default="", metadata={"description": "bag directory; empty: gr2_bag_<date-time>"})
    topics: list[str] = field(default_factory=lambda: list(RECORDED_TOPICS))
    sensor_depth: int = 5                 # queue depth of sensor streams (best effort)
    queue_depth: int = HIGH_RATE_HISTORY_DEPTH   # queue depth of the other topics (reliable)
    discovery_period: float = 0.5         # s between looks at the graph for requested topics
    max_duration: float = 0.0             # s; 0: until SIGINT/SIGTERM
    flush_period: float = 0.1             # s between flushes to disk: what a SIGKILL of the recorder can lose at most


class BagRecorder(Node):
    """Node that records `topics` into an MCAP bag at `output` (raw CDR, receive-time stamps).

    Topics are subscribed to as they appear on the graph; raises ValueError when `topics` is empty.
    """

    def __init__(self, **kwargs):
        super().__init__("gr2_bag_recorder", **kwargs)
        params = declare_dataclass(self, RecorderParameters)
        output = params.output or default_bag_name()
        self.topics = [t for t in params.topics if t]
        if not self.topics:
            raise ValueError("parameter 'topics' is empty: nothing to record")
        self.sensor_depth = params.sensor_depth
        self.queue_depth = params.queue_depth
        self.max_duration = params.max_duration
        self.writer = BagWriter(Path(output))
        self._recording = {}
        self._started = time.monotonic()
        self.get_logger().info(f"recording {len(self.topics)} topic(s) into {self.writer.path}")
        self._discover()
        self.create_timer(params.discovery_period, self._discover)
        self.create_timer(params.flush_period, self.writer.flush)

    def _discover(self) -> None:
        if self.max_duration > 0 and time.monotonic() - self._started >= self.max_duration:
            raise _DurationReached
        graph = dict(self.get_topic_names_and_types())
        for topic in self.topics:
            if topic in self._recording or topic not in graph:
                continue
            msgtype = graph[topic][0]
            if len(graph[topic]) > 1:
                self.get_logger().warn(f"{topic} has several types {graph[topic]}; recording {msgtype}")
            try:
                cls = message_class(msgtype)
                offered = [_offered(i) for i in self.get_publishers_info_by_topic(topic)]
                self.writer.add_topic(topic, msgtype, offered)
            except LookupError as err:
                self.get_logger().error(f"cannot record {topic}: {err}")
                self._recording[topic] = None  # do not retry every period
                continue
            if is_sensor_stream(msgtype):
                qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.sensor_depth,
                                 reliability=qos_profile_sensor_data.reliability)
            else:
                qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.queue_depth,
                                 reliability=ReliabilityPolicy.RELIABLE)
            self._recording[topic] = self.create_subscription(
                cls, topic, self._writer_callback(topic), qos, raw=True)
            self.get_logger().info(f"recording {topic} [{msgtype}]")

    def _writer_callback(self, topic: str):
        def on_message(data: bytes, info: dict) -> None:
            stamp = info.get("received_timestamp") or self.get_clock().now().nanoseconds
            self.writer.write(topic, stamp, data)
        return on_message

    def close(self) -> None:
        if not self.writer.closed:
            self.writer.close()
            total = sum(self.writer.counts.values())
            # Not the node logger: after SIGINT its /rosout publisher is already gone.
            rclpy.logging.get_logger("gr2_bag_recorder.bag").info(f"bag {self.writer.path} finalised: {total} messages "
                                   + ", ".join(f"{t}={n}" for t, n in self.writer.counts.items()))


class _DurationReached(Exception):
    """Raised out of the executor when `max_duration` has passed."""


def main(args=None) -> int:
    """Run the recorder node until SIGINT/SIGTERM or `max_duration`, then finalise the bag; 2 on bad parameters."""
    rclpy.init(args=args)
    node = None
    try:
        node = BagRecorder()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException, _DurationReached):
        pass
    except RCLError:
        # a signal shut the context down while spin was building its wait set: a stop like
        # ExternalShutdownException (the bag is still finalised below); anything else re-raises
        if rclpy.ok():
            raise
    except (ValueError, FileExistsError) as err:
        print(f"gr2_bag_recorder: {err}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
