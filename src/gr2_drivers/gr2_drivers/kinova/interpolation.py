"""From 200 Hz joint commands to a setpoint for every servo cycle (1 kHz on the Gen3).

The WBC sends a position + velocity feed-forward every 5 ms; the arm wants a setpoint every
cycle. Each new command starts a cubic Hermite segment from where the setpoint is now (with
its current velocity) to the commanded position and velocity one command period later, so
the setpoint is C1-continuous and lags the command by at most one period. Past the end of
a segment the setpoint extrapolates with the commanded velocity for a short horizon (covers
a late command), then holds still: a silent WBC makes the arm stop, never drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gr2_contract import CONTROL_RATE_HZ


@dataclass(frozen=True)
class InterpolationConfig:
    """Nominal joint command period and extrapolation horizon past a late command (s)."""
    command_period_s: float = 1.0 / CONTROL_RATE_HZ   # nominal /gr2/joint_command period (contract: 200 Hz)
    max_extrapolation_s: float = 0.010   # keep moving this long past a late command, then hold


class CommandInterpolator:
    """Per-cycle setpoints for `n` joints from the slower joint commands (module docstring).

    Call `reset` with the measured position (rad) first; ValueError for a command period <= 0.
    """

    def __init__(self, n: int, config: InterpolationConfig = InterpolationConfig()):
        if config.command_period_s <= 0.0:
            raise ValueError("command_period_s must be > 0")
        self.config = config
        self.n = n
        self._t0 = 0.0
        self._q0 = np.zeros(n)
        self._v0 = np.zeros(n)
        self._q1 = np.zeros(n)
        self._v1 = np.zeros(n)
        self._active = False
        self.last_command_time: float | None = None

    def reset(self, q: np.ndarray, now: float) -> None:
        """Hold still at q (start-up, after a reconnect or a fault): forget old commands."""
        q = np.asarray(q, dtype=float)
        self._t0 = now
        self._q0 = q.copy()
        self._q1 = q.copy()
        self._v0 = np.zeros(self.n)
        self._v1 = np.zeros(self.n)
        self._active = True
        self.last_command_time = None

    def set_target(self, q: np.ndarray, v: np.ndarray, now: float) -> None:
        if not self._active:
            raise RuntimeError("CommandInterpolator.reset() must be called with the measured position first")
        q_now, v_now = self.sample(now)
        self._t0 = now
        self._q0, self._v0 = q_now, v_now
        self._q1 = np.asarray(q, dtype=float).copy()
        self._v1 = np.asarray(v, dtype=float).copy()
        self.last_command_time = now

    def sample(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Setpoint (position, velocity) at time `now` (same clock as set_target)."""
        T = self.config.command_period_s
        s = now - self._t0
        if s <= 0.0:
            return self._q0.copy(), self._v0.copy()
        if s < T:
            u = s / T
            h00 = 2 * u**3 - 3 * u**2 + 1
            h10 = u**3 - 2 * u**2 + u
            h01 = -2 * u**3 + 3 * u**2
            h11 = u**3 - u**2
            q = h00 * self._q0 + h10 * T * self._v0 + h01 * self._q1 + h11 * T * self._v1
            dh00 = (6 * u**2 - 6 * u) / T
            dh10 = 3 * u**2 - 4 * u + 1
            dh01 = (-6 * u**2 + 6 * u) / T
            dh11 = 3 * u**2 - 2 * u
            v = dh00 * self._q0 + dh10 * self._v0 + dh01 * self._q1 + dh11 * self._v1
            return q, v
        extra = s - T
        if extra <= self.config.max_extrapolation_s:
            return self._q1 + self._v1 * extra, self._v1.copy()
        return self._q1 + self._v1 * self.config.max_extrapolation_s, np.zeros(self.n)
