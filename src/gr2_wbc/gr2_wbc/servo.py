"""Cartesian servo input (teleoperation): a commanded TCP twist integrated into a moving target
pose that the 200 Hz tracking QP follows like any chunk's reference. ROS-free.

MoveIt Servo's convention: the operator commands a twist (linear m/s, angular rad/s) of the TCP,
expressed in a named frame; here base_link (the planning frame) or the TCP frame itself. The
controller turns it into the target the QP tracks, so the joint position/velocity/acceleration
limits, the collision barriers and margins, /gr2/stop and the fault halt all apply unchanged:
there is no second path to the joints.

What the target does each control cycle (one nominal period, counted like the halt ramp, so a
late cycle never makes it jump):
- the commanded twist is clipped to the Cartesian velocity limits of the chunk optimiser
  (`TrajectoryConfig.max_linear_velocity`, `max_angular_velocity`) and approached at most at its
  acceleration limits, so the target itself is as smooth as an optimised chunk;
- dead man: with no command for `deadman_timeout` the commanded twist becomes zero, so the target
  decelerates at those limits and holds (the operator keeps control; a new command moves again);
- leash: the target never runs more than `max_lead` (m) / `max_lead_angle` (rad) ahead of the pose
  the arm is commanded to, so where a limit or a collision barrier stops the arm the target does
  not wind up and the arm does not lurch when the operator backs off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from gr2_wbc.trajectory import ReferenceSample, TrajectoryConfig


@dataclass
class ServoConfig:
    """The servo input's timeouts (s) and leash (m, rad); config/wbc.yaml `servo.*`."""
    deadman_timeout: float = 0.2    # s without a twist command -> decelerate to rest and hold
    max_lead: float = 0.02          # m, target position at most this far from the commanded TCP
    max_lead_angle: float = 0.1     # rad, the same for orientation
    future_stamp_tolerance: float = 0.5   # s, commands stamped further ahead are refused


def _limit_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v if n <= limit or n == 0.0 else v * (limit / n)


class ServoTarget:
    """The moving TCP target of one teleoperation session, in base_link.

    Starts at `pose` moving with `twist` (6: linear m/s, angular rad/s, base_link axes): the
    controller passes the pose and twist the arm is commanded to at the handover, so the tracking
    QP sees no error and no velocity step there."""

    def __init__(self, now: float, pose: pin.SE3, twist: np.ndarray, limits: TrajectoryConfig,
                 config: ServoConfig):
        self.cfg, self.limits = config, limits
        self.position = pose.translation.copy()
        self.rotation = pose.rotation.copy()
        self.velocity = np.asarray(twist, dtype=float).copy()   # current target twist, base_link
        self.command = np.zeros(6)                              # commanded twist, base_link
        self.last_command = now        # s, the controller's clock: when a command last arrived
        self.commands = 0
        self.deadman_active = False

    def set_command(self, now: float, twist: np.ndarray, in_tcp_frame: bool = False) -> None:
        """A twist command arrived at `now`: (6,) linear m/s then angular rad/s, in base_link axes
        or, with `in_tcp_frame`, in the TCP frame's axes (rotated into base_link by the target's
        current orientation)."""
        twist = np.asarray(twist, dtype=float)
        if in_tcp_frame:
            twist = np.concatenate([self.rotation @ twist[:3], self.rotation @ twist[3:]])
        self.command = twist
        self.last_command = now
        self.commands += 1

    def advance(self, now: float, period: float) -> None:
        """Move the target one control period (s); `sample()` then gives the QP's reference."""
        lim = self.limits
        self.deadman_active = now - self.last_command > self.cfg.deadman_timeout
        wanted = np.zeros(6) if self.deadman_active else self.command
        wanted = np.concatenate([_limit_norm(wanted[:3], lim.max_linear_velocity),
                                 _limit_norm(wanted[3:], lim.max_angular_velocity)])
        dv = wanted - self.velocity
        dv = np.concatenate([_limit_norm(dv[:3], lim.max_linear_acceleration * period),
                             _limit_norm(dv[3:], lim.max_angular_acceleration * period)])
        v_old = self.velocity
        self.velocity = v_old + dv
        # trapezoidal: the position follows the velocity ramp without a half-step offset
        self.position = self.position + 0.5 * (v_old[:3] + self.velocity[:3]) * period
        self.rotation = pin.exp3(0.5 * (v_old[3:] + self.velocity[3:]) * period) @ self.rotation

    def leash(self, tcp: pin.SE3) -> None:
        """Pull the target back to within max_lead / max_lead_angle of the commanded TCP pose
        `tcp` (see the module docstring: no wind-up against a limit or a collision barrier)."""
        # At the leash the target's velocity away from the arm is dropped too: otherwise the target
        # would keep its speed into the obstacle and take as long to turn round when the operator
        # backs off.
        offset = self.position - tcp.translation
        n = float(np.linalg.norm(offset))
        if n > self.cfg.max_lead:
            u = offset / n
            self.position = tcp.translation + u * self.cfg.max_lead
            self.velocity[:3] -= max(0.0, float(self.velocity[:3] @ u)) * u
        r = pin.log3(self.rotation @ tcp.rotation.T)
        angle = float(np.linalg.norm(r))
        if angle > self.cfg.max_lead_angle:
            u = r / angle
            self.rotation = pin.exp3(u * self.cfg.max_lead_angle) @ tcp.rotation
            self.velocity[3:] -= max(0.0, float(self.velocity[3:] @ u)) * u

    def sample(self) -> ReferenceSample:
        """The target as a reference sample (pose and twist, base_link)."""
        return ReferenceSample(self.position.copy(), self.rotation.copy(), self.velocity[:3].copy(),
                               self.velocity[3:].copy())

    @property
    def moving(self) -> bool:
        """True while the target has a nonzero velocity."""
        return bool(np.any(self.velocity != 0.0))
