"""The gripper commands of the executing chunk, sent when due. ROS-free."""

from __future__ import annotations

from collections.abc import Iterable


class GripperQueue:
    """Gripper openings (0 = open .. 1 = closed) due at times on the controller's clock (s).
    A value goes out when its time has come and it differs from the last one sent by more than
    `deadband`; when several fall due in one cycle only the newest counts."""

    def __init__(self, deadband: float):
        self.deadband = deadband
        self._events: list[tuple[float, float]] = []
        self._sent: float | None = None

    def replace(self, times: Iterable[float], values: Iterable[float], after: float) -> None:
        """Queue a new chunk's values (dropping the old chunk's), keeping those due after `after`
        (the instant the chunk takes over)."""
        self._events = [(t, float(g)) for t, g in zip(times, values, strict=False) if t > after]

    def clear(self) -> None:
        """Drop everything queued (a halt: no gripper motion of the old plan goes out)."""
        self._events = []

    def forget_sent(self) -> None:
        """The gripper may have moved without us (a simulator reset): the next value due goes
        out whatever was sent before."""
        self._sent = None

    def due(self, now: float) -> float | None:
        """The command to send at `now`, or None (nothing due, or within the deadband)."""
        due = [g for t, g in self._events if t <= now]
        if not due:
            return None
        self._events = [(t, g) for t, g in self._events if t > now]
        value = due[-1]
        if self._sent is None or abs(value - self._sent) > self.deadband:
            self._sent = value
            return value
        return None
