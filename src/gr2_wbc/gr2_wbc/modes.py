"""The controller's modes, the latch that stops old chunks after a stop, and the halt ramp. ROS-free.

Control authority (WBC.md "Authority"): chunks move the arm only in IDLE, TRACKING and HOLDING.
/gr2/stop -> STOPPING (halt within the acceleration limit) -> STOPPED, which holds until
`resume`. A stale joint-state stream -> FAULT (halt, then stand still); when measurements return
the controller re-synchronises to them and goes to STOPPED, never back into motion by itself.
TELEOP: an operator took control (`Controller.take_control`, /gr2/operator_control): the servo
twist moves the arm and every chunk is refused until the operator hands back (-> HOLDING, chunks
again). Policy and operator never command at the same time; the mode says which one may.
The transitions themselves run in `Controller.step` (controller.py), which owns the state they
act on (commanded joints, references).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Mode(IntEnum):
    """Same values as gr2_msgs/WbcStatus MODE_*."""
    IDLE = 0
    TRACKING = 1
    HOLDING = 2
    STOPPING = 3
    FAULT = 4
    STOPPED = 5      # halted by /gr2/stop or after a fault; holds until resume()
    TELEOP = 6       # the operator's servo twist has control; chunks are refused until handed back


HALTED = (Mode.STOPPING, Mode.STOPPED, Mode.FAULT)   # modes in which nothing moves the arm
NO_CHUNKS = (*HALTED, Mode.TELEOP)                   # modes in which no chunk is accepted
TAKEOVER_FROM = (Mode.IDLE, Mode.TRACKING, Mode.HOLDING, Mode.STOPPED)   # an operator may take control


@dataclass
class StopLatch:
    """The last instant authority was taken away or given back (a stop, a fault's recovery, a
    resume), on the controller's clock (s): chunks predicted from observations stamped at or
    before it are refused, so nothing planned before a stop moves the arm after it."""
    stamp: float = -np.inf
    cause: str = "/gr2/stop"

    def latch(self, now: float, cause: str) -> None:
        self.stamp, self.cause = now, cause

    def refuses(self, observation_stamp: float) -> bool:
        return observation_stamp <= self.stamp


@dataclass
class HaltRamp:
    """A halt in joint space: the velocity ramps linearly from `qd0` (rad/s, 7) to zero over
    `duration` (s), one nominal control period per cycle.

    The ramp counts control cycles from the last command, not wall time from the call: each
    cycle takes exactly period/duration of qd0 off, whenever the stop came and however late a
    cycle woke up, so no step brakes harder than the acceleration limit."""
    qd0: np.ndarray
    duration: float
    cycles_done: int = 0

    @classmethod
    def from_velocity(cls, qd: np.ndarray, acceleration_limit: np.ndarray, period: float,
                      stop_time: float) -> HaltRamp:
        """The ramp from joint velocity `qd` (rad/s) at `acceleration_limit` (rad/s^2, per joint):
        as long as the slowest joint needs, at least one `period` and at most `stop_time` (s)."""
        duration = float(np.clip(np.max(np.abs(qd) / acceleration_limit), period, stop_time))
        return cls(qd.copy(), duration)

    def next_fraction(self, period: float) -> float:
        """Advance one cycle; the fraction of qd0 to command in it (0.0 on the last one)."""
        self.cycles_done += 1
        return max(0.0, 1.0 - self.cycles_done * period / self.duration)
