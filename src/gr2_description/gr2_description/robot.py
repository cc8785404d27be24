"""Where the robot's URDF is and which of its frames and joints the stack uses.

The simulator (gr2_drivers.sim) and the controller (gr2_wbc) both build their models from
what this module resolves, so that the MuJoCo and Pinocchio kinematics come from one file.
The facts themselves live in config/robot.yaml; this module only resolves them. ROS-free.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gr2_contract import ARM_JOINTS, GRIPPER_JOINT
from gr2_contract.config import config_dir


@dataclass(frozen=True)
class RobotDescription:
    """The robot as config/robot.yaml describes it: URDF, frames, TCP offset (m, xyzw), home (rad), table (m)."""
    urdf_path: Path
    package_name: str           # the name package:// URIs in the URDF refer to
    package_root: Path          # the directory package://<package_name>/ resolves to
    base_link: str
    flange_link: str
    tcp_position: tuple[float, float, float]
    tcp_orientation: tuple[float, float, float, float]  # x, y, z, w
    home: tuple[float, ...]
    table_center: tuple[float, float, float]
    table_size: tuple[float, float, float]
    gripper_mjcf: Path | None = None    # the gripper at the flange as a MuJoCo model (None: the URDF's)
    gripper_urdf_link_prefix: str = ""  # the URDF's own gripper links, replaced by gripper_mjcf
    gripper_collision_hull: Path | None = None   # its hull vertices (gripper_geometry), beside robot.yaml
    arm_joints: tuple[str, ...] = ARM_JOINTS
    gripper_joint: str = GRIPPER_JOINT
    extra: dict = field(default_factory=dict)

    def resolve_mesh(self, uri: str) -> Path:
        """Turn a URDF mesh reference (package://, file:// or relative) into a file path."""
        prefix = f"package://{self.package_name}/"
        if uri.startswith(prefix):
            return self.package_root / uri[len(prefix):]
        if uri.startswith("file://"):
            return Path(uri[len("file://"):])
        path = Path(uri)
        return path if path.is_absolute() else self.urdf_path.parent / path


def _installed_file(distribution: str, relative: str) -> Path:
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as err:
        raise FileNotFoundError(
            f"robot description: Python distribution '{distribution}' is not installed; "
            f"run `make setup` (it is in requirements.txt)") from err
    path = Path(dist.locate_file(relative))
    if not path.exists():
        raise FileNotFoundError(f"robot description: {relative} not found in {distribution} ({path})")
    return path


def load_robot_description(config_path: Path | str | None = None) -> RobotDescription:
    """The RobotDescription of `config_path` (default: config/robot.yaml); files may come from an
    installed Python distribution. FileNotFoundError when one is missing, ValueError for a wrong home."""
    path = Path(config_path) if config_path else config_dir() / "robot.yaml"
    cfg = yaml.safe_load(path.read_text())
    urdf = cfg["urdf"]
    dist = urdf.get("python_distribution") or ""
    if dist:
        urdf_path = _installed_file(dist, urdf["path"])
        package_root = _installed_file(dist, urdf["package_root"])
    else:
        urdf_path = Path(urdf["path"]).expanduser()
        package_root = Path(urdf.get("package_root", urdf_path.parent)).expanduser()
    gripper = cfg.get("gripper") or {}
    gripper_mjcf = None
    if gripper.get("mjcf"):
        gdist = gripper.get("python_distribution") or ""
        gripper_mjcf = _installed_file(gdist, gripper["mjcf"]) if gdist else Path(gripper["mjcf"]).expanduser()
    hull = path.parent / gripper["collision_hull"] if gripper_mjcf and gripper.get("collision_hull") else None
    if len(cfg["home"]) != len(ARM_JOINTS):
        raise ValueError(f"{path}: home has {len(cfg['home'])} values, the arm has {len(ARM_JOINTS)} joints")
    return RobotDescription(
        urdf_path=urdf_path,
        package_name=urdf["package_name"],
        package_root=package_root,
        base_link=cfg["base_link"],
        flange_link=cfg["flange_link"],
        tcp_position=tuple(cfg["tcp_offset"]["position"]),
        tcp_orientation=tuple(cfg["tcp_offset"]["orientation"]),
        home=tuple(float(q) for q in cfg["home"]),
        table_center=tuple(float(v) for v in cfg["table"]["center"]),
        table_size=tuple(float(v) for v in cfg["table"]["size"]),
        gripper_mjcf=gripper_mjcf,
        gripper_urdf_link_prefix=gripper.get("urdf_link_prefix", "") if gripper_mjcf else "",
        gripper_collision_hull=hull,
    )
