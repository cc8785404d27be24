"""Kinova units <-> REP-103 units.

Kinova reports and accepts joint angles in degrees in [0, 360) and the gripper in percent
of stroke (0 open, 100 closed); ROS wants radians and the contract a 0..1 fraction.
Continuous joints (1, 3, 5, 7 on the Gen3) are unwrapped against the previous reading so
that /joint_states never jumps by 2*pi when a joint crosses 0/360 degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gr2_contract import unwrap_near  # the one unwrapping rule (re-exported here for the adapter)


def wrap_to_pi(angle: float) -> float:
    """Angle in (-pi, pi]."""
    wrapped = math.remainder(angle, 2.0 * math.pi)
    return math.pi if wrapped == -math.pi else wrapped


def kinova_deg_to_rad(deg: float, continuous: bool, previous_rad: float | None) -> float:
    """One actuator reading (degrees, [0, 360)) to radians.

    Limited joints come back in (-pi, pi] (their range never reaches pi). Continuous joints
    continue from `previous_rad` when known, so multi-turn motion stays continuous.
    """
    rad = wrap_to_pi(math.radians(deg))
    if continuous and previous_rad is not None:
        return unwrap_near(rad, previous_rad)
    return rad


def rad_to_kinova_deg(rad: float) -> float:
    """A joint setpoint in radians to the [0, 360) degrees the actuators take."""
    deg = math.degrees(rad) % 360.0
    return 0.0 if deg >= 360.0 else deg


def feedback_to_radians(degrees: Sequence[float], continuous: Sequence[bool],
                        previous: Sequence[float] | None) -> list[float]:
    """All actuator readings (degrees) to radians; continuous joints are unwrapped against
    `previous` (rad, the last published angles) when given."""
    prev = previous if previous is not None else [None] * len(degrees)
    return [kinova_deg_to_rad(d, c, p) for d, c, p in zip(degrees, continuous, prev, strict=False)]


def fraction_to_percent(fraction: float) -> float:
    """Contract 0..1 (position/speed/force) to Kinova's 0..100 %, clamped."""
    return 100.0 * min(1.0, max(0.0, float(fraction)))


def percent_to_fraction(percent: float) -> float:
    """Kinova's 0..100 % (gripper position) to the contract's 0..1 fraction, clamped."""
    return min(1.0, max(0.0, float(percent) / 100.0))


def gripper_percent_to_joint(percent: float, closed_joint_rad: float) -> float:
    """Robotiq 2F-85 stroke % to the URDF finger joint angle (0 open .. closed_joint_rad closed)."""
    return percent_to_fraction(percent) * closed_joint_rad
