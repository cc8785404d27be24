"""Replay a rosbag2 bag onto the ROS graph with its original timing (thin rclpy node).

For open-loop evaluation of the policy from a recording: cameras, robot state and the
instruction are republished as recorded (CDR bytes as stored), at `rate` times real time.
`clock:=true` also publishes /clock (bag time) for nodes run with use_sim_time; `restamp:=true`
instead shifts header stamps to the replay time, for nodes that judge staleness by stamp.

    python -m gr2_bringup.bag.player_node --ros-args -p bag:=bags/run1 -p rate:=1.0
    gr2-bag play bags/run1 [--rate 0.5] [--topics /gr2/instruction ...] [--clock] [--restamp]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock

from gr2_contract import HIGH_RATE_HISTORY_DEPTH
from gr2_contract.parameters import declare_dataclass

from .playback import play, restamp
from .reader import read_info, read_messages
from .ros_types import message_class
from .types import bag_typestore


@dataclass
class PlayerParameters:
    """The player node's parameters (gr2_contract.parameters.declare_dataclass)."""
    bag: str = field(default="", metadata={"description": "the bag directory to play (required)"})
    rate: float = 1.0                     # times real time
    topics: list[str] = field(default_factory=lambda: [""])  # empty: every topic in the bag
    clock: bool = False                   # also publish /clock (bag time)
    clock_rate: float = 100.0             # Hz of /clock
    restamp: bool = False                 # shift header stamps to the replay time
    wait_for_subscribers: float = 0.0     # s to wait for a subscriber on every topic before playing
    queue_depth: int = HIGH_RATE_HISTORY_DEPTH   # publisher history: a reliable subscriber may lag this many messages


class BagPlayer(Node):
    """Node that republishes a bag's topics (parameters `bag`, `rate`, `topics`, `clock`, `restamp`).

    Raises ValueError for a missing `bag`, a rate <= 0 or topics the bag does not have.
    """

    def __init__(self, **kwargs):
        super().__init__("gr2_bag_player", **kwargs)
        params = declare_dataclass(self, PlayerParameters)
        self.bag = params.bag
        if not self.bag:
            raise ValueError("parameter 'bag' (the bag directory to play) is required")
        self.rate = params.rate
        if not self.rate > 0:
            raise ValueError(f"parameter 'rate' must be > 0, got {self.rate}")
        info = read_info(self.bag)
        wanted = [t for t in params.topics if t] or list(info.topics)
        unknown = set(wanted) - set(info.topics)
        if unknown:
            raise ValueError(f"topic(s) {sorted(unknown)} are not in {self.bag}; it has {sorted(info.topics)}")
        self.topics = [t for t in wanted if info.topics[t].count > 0]
        qos = QoSProfile(depth=params.queue_depth)
        self.pubs = {t: self.create_publisher(message_class(info.topics[t].msgtype), t, qos)
                     for t in self.topics}
        self.clock_pub = self.create_publisher(Clock, "/clock", 10) if params.clock else None
        self.clock_period = 1.0 / params.clock_rate
        self._last_clock = 0.0
        self.restamp = params.restamp
        self.wait_s = params.wait_for_subscribers
        self.info = info

    def wait_for_subscribers(self) -> None:
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            if all(pub.get_subscription_count() > 0 for pub in self.pubs.values()):
                return
            time.sleep(0.05)
        lonely = [t for t, pub in self.pubs.items() if pub.get_subscription_count() == 0]
        if lonely and self.wait_s > 0:
            self.get_logger().warn(f"starting playback; no subscriber yet on {lonely}")

    def _tick(self, bag_ns: int) -> None:
        if self.clock_pub is None or time.monotonic() - self._last_clock < self.clock_period:
            return
        self._last_clock = time.monotonic()
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(bag_ns, 1_000_000_000)
        self.clock_pub.publish(msg)

    def run(self) -> None:
        self.wait_for_subscribers()
        self.get_logger().info(f"playing {self.bag} ({self.info.duration_s:.2f} s, "
                               f"{len(self.topics)} topic(s)) at rate {self.rate}")
        store = bag_typestore()
        offset_ns = time.time_ns() - self.info.start_ns
        if self.restamp:
            self.get_logger().info(f"restamp offset {offset_ns} ns (gr2-bag open-loop --offset-ns)")

        def publish(message) -> None:
            if self.restamp:
                message = restamp(message, offset_ns, store)
            self.pubs[message.topic].publish(message.data)

        stats = play(read_messages(self.bag, self.topics), publish, rate=self.rate,
                     tick=self._tick, should_stop=lambda: not rclpy.ok())
        # Not the node logger: after SIGINT its /rosout publisher is already gone.
        rclpy.logging.get_logger("gr2_bag_player.playback").info(
            f"played {sum(stats.published.values())} messages in {stats.wall_duration_s:.2f} s "
            f"(max lateness {stats.max_lateness_s * 1e3:.1f} ms)"
            + (" - stopped early" if stats.stopped_early else ""))
        time.sleep(0.2)  # let the last reliable messages be acknowledged before the node goes


def main(args=None) -> int:
    """Run the bag player node until the bag ends or shutdown; 2 on a bad bag or parameter, else 0."""
    rclpy.init(args=args)
    node = None
    try:
        node = BagPlayer()
        node.run()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError, KeyError, LookupError) as err:
        print(f"gr2_bag_player: {err}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
