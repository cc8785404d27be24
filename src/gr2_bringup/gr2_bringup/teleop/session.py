"""Demonstration recording: one rosbag2 bag per episode, started and ended by the teleop device's
episode marks (/gr2/teleop/event: start, success, failure).

On `start` a recorder (gr2_bringup.bag.recorder_node.BagRecorder, in this process) begins
`<output>/episode_NNN`; once it is subscribed to /gr2/instruction the instruction is published, so
it is the bag's first instruction message (what `gr2-bag to-dataset` splits episodes on). On
`success` / `failure` the outcome goes out on /gr2/teleop/episode_success (std_msgs/Bool, into the
bag: the conversion reads it as the episode's success) and the bag is finalised. `EpisodeMarks`
is the ROS-free state machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Bool, String

import gr2_contract as contract

from ..bag.recorder_node import BagRecorder

TOPICS = (*contract.RECORDED_TOPICS, contract.EPISODE_OUTCOME, contract.SERVO_TWIST)


@dataclass
class EpisodeMarks:
    """Which episode is being recorded (None: none), from the device's marks. ROS-free."""
    recording: int | None = None
    next_index: int = 0

    def on_event(self, event: str) -> tuple[str, int] | None:
        """('begin', n), ('success', n), ('failure', n) to act on, or None for a mark that does
        not apply now (a start while recording, an end while idle)."""
        if event == "start" and self.recording is None:
            self.recording, self.next_index = self.next_index, self.next_index + 1
            return "begin", self.recording
        if event in ("success", "failure") and self.recording is not None:
            index, self.recording = self.recording, None
            return event, index
        return None


class SessionRecorder(Node):
    """Records one bag per episode into `output` (module docstring); `executor` spins the
    recorders it creates. `auto_start`: the next episode begins as soon as one ends (a device
    without a start button)."""

    def __init__(self, executor, output: Path, instruction: str, auto_start: bool = False,
                 max_episodes: int = 0):
        super().__init__("demo_session")
        if not instruction.strip():
            raise ValueError("a demonstration needs an instruction")
        self.executor, self.output, self.instruction = executor, Path(output), instruction
        self.auto_start, self.max_episodes = auto_start, max_episodes
        self.marks = EpisodeMarks()
        self.recorder: BagRecorder | None = None
        self.finished: list[tuple[Path, bool]] = []
        self._waiting_instruction = False
        self._baseline = 0
        self.instruction_pub = self.create_publisher(String, contract.INSTRUCTION, 10)
        self.outcome_pub = self.create_publisher(Bool, contract.EPISODE_OUTCOME, 10)
        self.create_subscription(String, contract.TELEOP_EVENT, self._on_event, 10)
        self.create_timer(0.05, self._publish_instruction_when_recorded)
        self._close_at: tuple[float, BagRecorder, Path, bool] | None = None
        self.create_timer(0.05, self._close_when_due)
        self.get_logger().info(f"demonstrations of '{instruction}' into {self.output}")
        if auto_start:
            self._on_event(String(data="start"))

    @property
    def done(self) -> bool:
        """True once `max_episodes` (> 0) episodes are finalised."""
        return 0 < self.max_episodes <= len(self.finished) and self._close_at is None

    def _on_event(self, msg: String) -> None:
        action = self.marks.on_event(msg.data)
        if action is None:
            self.get_logger().info(f"episode mark '{msg.data}' ignored now")
            return
        what, index = action
        if what == "begin":
            path = self.output / f"episode_{index:03d}"
            self._baseline = self.instruction_pub.get_subscription_count()
            self.recorder = BagRecorder(parameter_overrides=[Parameter("output", value=str(path)),
                                                             Parameter("topics", value=list(TOPICS))])
            self.executor.add_node(self.recorder)
            self._waiting_instruction = True
            self.get_logger().info(f"episode {index}: recording {path}")
            return
        self.outcome_pub.publish(Bool(data=what == "success"))
        # a moment for the outcome to reach the recorder before its bag is finalised
        now = self.get_clock().now().nanoseconds * 1e-9
        self._close_at = (now + 0.3, self.recorder, self.recorder.writer.path, what == "success")
        self.recorder = None
        self.get_logger().info(f"episode {index}: {what}")

    def _publish_instruction_when_recorded(self) -> None:
        if self._waiting_instruction and self.instruction_pub.get_subscription_count() > self._baseline:
            self._waiting_instruction = False
            self.instruction_pub.publish(String(data=self.instruction))

    def _close_when_due(self) -> None:
        if self._close_at is None or self.get_clock().now().nanoseconds * 1e-9 < self._close_at[0]:
            return
        _, recorder, path, success = self._close_at
        self._close_at = None
        self.executor.remove_node(recorder)
        recorder.close()
        recorder.destroy_node()
        self.finished.append((path, success))
        self.get_logger().info(f"bag {path} finalised ({'success' if success else 'failure'})")
        if self.auto_start and not (0 < self.max_episodes <= len(self.finished)):
            self._on_event(String(data="start"))

    def close(self) -> None:
        """End an unfinished episode as a failure and finalise its bag (Ctrl-C)."""
        if self.recorder is not None:
            self.outcome_pub.publish(Bool(data=False))
            self.executor.remove_node(self.recorder)
            self.recorder.close()
            self.recorder.destroy_node()
            self.recorder = None
        if self._close_at is not None:
            self._close_at = (0.0, *self._close_at[1:])
            self._close_when_due()
