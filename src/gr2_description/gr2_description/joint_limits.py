"""Joint limits read from the robot's URDF (the one kinematic source, config/robot.yaml).

The driver refuses commands beyond the limits and bounds the commanded speed; both facts
come from the same URDF the WBC and the sim use, never from a second table.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JointLimit:
    """One joint's URDF limits: position range (rad; infinite for continuous joints), speed (rad/s)."""
    name: str
    continuous: bool
    lower: float      # rad; -inf for continuous joints
    upper: float      # rad; +inf for continuous joints
    velocity: float   # rad/s


def read_joint_limits(urdf_path: Path | str, joints: tuple[str, ...]) -> dict[str, JointLimit]:
    """The limits of `joints` from the URDF at `urdf_path`, by joint name.

    Raises ValueError when one of them is missing or a non-continuous one has no <limit>.
    """
    root = ET.parse(str(urdf_path)).getroot()
    found: dict[str, JointLimit] = {}
    for joint in root.findall("joint"):
        name = joint.get("name")
        if name not in joints:
            continue
        kind = joint.get("type")
        limit = joint.find("limit")
        velocity = float(limit.get("velocity", "inf")) if limit is not None else math.inf
        if kind == "continuous":
            found[name] = JointLimit(name, True, -math.inf, math.inf, velocity)
        else:
            if limit is None:
                raise ValueError(f"{urdf_path}: joint {name} ({kind}) has no <limit>")
            found[name] = JointLimit(name, False, float(limit.get("lower")), float(limit.get("upper")),
                                     velocity)
    missing = [j for j in joints if j not in found]
    if missing:
        raise ValueError(f"{urdf_path}: joints {missing} not found")
    return found
