"""The controller's statistics for /gr2/wbc/status: rolling timing windows and the snapshot. ROS-free."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from gr2_wbc.modes import Mode


class RollingWindow:
    """The last `n` values of a timing (s), for percentiles over recent cycles; 0.0 while empty."""

    def __init__(self, n: int):
        self.values: deque[float] = deque(maxlen=n)

    def add(self, v: float) -> None:
        self.values.append(v)

    def pct(self, p: float) -> float:
        return float(np.percentile(self.values, p)) if self.values else 0.0

    def max(self) -> float:
        return float(max(self.values)) if self.values else 0.0


@dataclass
class StatusSnapshot:
    """The controller's statistics for /gr2/wbc/status: mode, cycle and QP times (s, percentiles
    over the last `stats_window` cycles), counters, manipulability, distances (m) and errors."""
    mode: Mode
    cycle_p50: float
    cycle_p99: float
    cycle_max: float
    qp_p50: float
    qp_p99: float
    deadline_misses: int
    cycles_without_reference: int
    cycles: int
    manipulability: float
    min_distance: float
    position_error: float
    orientation_error: float
    chunks_accepted: int
    chunks_rejected: int
    message: str
