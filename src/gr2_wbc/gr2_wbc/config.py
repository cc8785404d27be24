"""ControllerConfig from flat ROS-style parameters (config/wbc.yaml). ROS-free, so the node,
the tests and the benchmark read the same file the same way."""

from __future__ import annotations

from pathlib import Path

import yaml

from gr2_contract.config import config_dir
from gr2_description.robot import load_robot_description
from gr2_wbc.controller_config import ControllerConfig
from gr2_wbc.robot_model import BoxObstacle, ModelConfig

# config/wbc.yaml's flat `tracking.<name>` -> (term, field) of TrackingConfig
_TRACKING = {
    "position_gain": ("frame", "position_gain"),
    "orientation_gain": ("frame", "orientation_gain"),
    "orientation_weight": ("frame", "orientation_weight"),
    "manipulability_weight": ("manipulability", "weight"),
    "manipulability_floor": ("manipulability", "floor"),
    "manipulability_min": ("manipulability", "min"),
    "collision_margin": ("collision", "margin"),
    "gripper_environment_margin": ("collision", "gripper_environment_margin"),
    "collision_influence": ("collision", "influence"),
    "collision_speed": ("collision", "speed"),
}
_TRAJECTORY = ("grid_dt", "max_linear_velocity", "max_linear_acceleration", "max_angular_velocity",
               "max_angular_acceleration", "acceleration_weight", "jerk_weight", "blend_time")
_SERVO = ("deadman_timeout", "max_lead", "max_lead_angle")
_CONTROLLER = ("frame_id", "chunk_timeout", "joint_state_timeout", "joint_state_fault_timeout", "stop_time",
               "switch_lead", "max_switch_lead", "optimiser_process", "optimiser_priority")


def default_config_path() -> Path:
    """The WBC's parameter file: wbc.yaml in the stack's config folder (gr2_contract.config_dir)."""
    return config_dir() / "wbc.yaml"


def load_parameters(path: Path | str | None = None) -> dict:
    """The flat `/**: ros__parameters:` dict of config/wbc.yaml."""
    return dict(yaml.safe_load(Path(path or default_config_path()).read_text())["/**"]["ros__parameters"])


def default_parameters() -> dict:
    """Every parameter of config/wbc.yaml with its built-in default (the dataclass defaults),
    for the node to declare; the YAML overrides them."""
    cfg = ControllerConfig()
    params = {"rate": 1.0 / cfg.period}
    params.update({name: getattr(cfg, name) for name in _CONTROLLER})
    params.update({f"tracking.{n}": getattr(getattr(cfg.tracking, term), f) for n, (term, f) in _TRACKING.items()})
    params.update({f"trajectory.{n}": getattr(cfg.trajectory, n) for n in _TRAJECTORY})
    params.update({f"servo.{n}": getattr(cfg.servo, n) for n in _SERVO})
    params["acceleration_limits"] = list(cfg.model.acceleration_limits)
    params["velocity_scale"] = cfg.model.velocity_scale
    params["environment.boxes"] = [""]  # extra obstacles; the table comes from config/robot.yaml
    return params


def controller_config_from_params(params: dict) -> ControllerConfig:
    """ControllerConfig from flat ROS-style parameters (`rate` in Hz, `tracking.*`,
    `trajectory.*`, `environment.*` boxes, ...); missing ones keep their defaults, and the table of
    config/robot.yaml is always an obstacle. Raises ValueError for a rate <= 0 or a malformed box."""
    cfg = ControllerConfig()
    if "rate" in params:
        if not float(params["rate"]) > 0:
            raise ValueError(f"rate must be > 0, got {params['rate']}")
        cfg.period = 1.0 / float(params["rate"])
    for name in _CONTROLLER:
        if name in params:
            setattr(cfg, name, type(getattr(cfg, name))(params[name]))
    for name, (term, field_name) in _TRACKING.items():
        if f"tracking.{name}" in params:
            setattr(getattr(cfg.tracking, term), field_name, float(params[f"tracking.{name}"]))
    for name in _TRAJECTORY:
        if f"trajectory.{name}" in params:
            setattr(cfg.trajectory, name, float(params[f"trajectory.{name}"]))
    for name in _SERVO:
        if f"servo.{name}" in params:
            value = float(params[f"servo.{name}"])
            if not value > 0:
                raise ValueError(f"servo.{name} must be > 0, got {value}")
            setattr(cfg.servo, name, value)
    # The table the arm stands on is part of the robot description (the sim builds the same box).
    desc = load_robot_description()
    boxes = [BoxObstacle("table", desc.table_center, desc.table_size)]
    for name in params.get("environment.boxes", []) or []:
        if not name:
            continue
        try:
            center, size = params[f"environment.{name}.center"], params[f"environment.{name}.size"]
        except KeyError as err:
            raise ValueError(f"obstacle '{name}' needs environment.{name}.center and .size") from err
        if len(center) != 3 or len(size) != 3 or min(size) <= 0:
            raise ValueError(f"obstacle '{name}': center and size must be 3 values, size > 0")
        boxes.append(BoxObstacle(name, tuple(map(float, center)), tuple(map(float, size))))
    cfg.model = ModelConfig(
        acceleration_limits=tuple(float(a) for a in params.get("acceleration_limits",
                                                               cfg.model.acceleration_limits)),
        velocity_scale=float(params.get("velocity_scale", cfg.model.velocity_scale)),
        obstacles=tuple(boxes))
    return cfg


def load_controller_config(path: Path | str | None = None) -> ControllerConfig:
    """ControllerConfig from the WBC parameter file at `path` (default: config/wbc.yaml)."""
    return controller_config_from_params(load_parameters(path))
