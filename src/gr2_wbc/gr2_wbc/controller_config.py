"""ControllerConfig: everything the controller core is configured with. ROS-free; config.py
fills it from config/wbc.yaml."""

from __future__ import annotations

from dataclasses import dataclass, field

from gr2_contract import CONTROL_RATE_HZ
from gr2_wbc.robot_model import ModelConfig
from gr2_wbc.servo import ServoConfig
from gr2_wbc.tracking_qp import TrackingConfig
from gr2_wbc.trajectory import TrajectoryConfig


@dataclass
class ControllerConfig:
    """Everything the controller core is configured with: period and timeouts (s), limits, sub-configs."""
    period: float = 1.0 / CONTROL_RATE_HZ  # s (the contract's /gr2/joint_command rate; wbc.yaml `rate`)
    frame_id: str = "base_link"
    chunk_timeout: float = 1.0             # s after the newest chunk's stamp: stale -> brake and hold
    joint_state_timeout: float = 0.1       # s without a joint measurement -> reported late, tracking goes on
    joint_state_fault_timeout: float = 0.5  # s without one -> halt, FAULT (a stopped driver, not a late message)
    stop_time: float = 0.45                # s, /gr2/stop must be at rest within 0.5 s
    switch_lead: float = 0.01              # s between receiving a chunk and switching to it
    max_switch_lead: float = 0.25          # s, cap on the adaptive lead (one slow optimisation must
                                           # not push every later chunk into the past)
    future_stamp_tolerance: float = 0.5    # s, chunks and joint states stamped further in the future are refused
    max_reach: float = 1.5                 # m, poses farther from the base are rejected
    max_chunk_length: int = 1000
    resync_threshold: float = 0.2          # rad, commanded vs measured beyond this -> resync
    gripper_deadband: float = 1e-3
    rest_speed: float = 1e-3               # rad/s: a hold commanding every joint slower than this is at rest
    naive_switching: bool = False          # baseline for the smoothness comparison only
    # Optimise chunks in a child process (optimiser_process.py: OSQP holds the GIL through its
    # solves, which stalls the control loop when they run in one of its threads).
    optimiser_process: bool = False
    optimiser_priority: int = 0            # SCHED_FIFO of that process (0: normal scheduling)
    stats_window: int = 2000
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    servo: ServoConfig = field(default_factory=ServoConfig)   # teleoperation input (servo.py)
