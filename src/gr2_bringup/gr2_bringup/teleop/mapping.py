"""Device state -> servo twist, gripper command and episode events. ROS-free.

A device reports normalised axes (-1..1) and buttons; a DeviceMapping (config/teleop.yaml, one per
device kind) says which axis drives which twist component, with which sign and scale, the
deadband, and which buttons toggle the gripper, take/hand back control and mark episodes.
Twist components are MoveIt Servo's: linear x, y, z (m/s) then angular x, y, z (rad/s), in the
frame the node stamps them with (base_link or the TCP frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EVENTS = ("start", "success", "failure", "control")   # what buttons can mean besides the gripper


@dataclass
class DeviceState:
    """One reading of an input device: axes normalised to -1..1, buttons held or not, and which
    buttons went down since the previous reading (`pressed`: a click released before the reading
    shows there and not in `buttons`; empty for devices whose readings are events already)."""
    axes: tuple[float, ...] = ()
    buttons: tuple[bool, ...] = ()
    pressed: tuple[bool, ...] = ()


@dataclass
class DeviceMapping:
    """How one device kind drives the twist (config/teleop.yaml `<kind>.*`); -1 means none."""
    axes: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])   # device axis per twist component
    signs: list[float] = field(default_factory=lambda: [1.0] * 6)         # +1 / -1 per twist component
    linear_scale: float = 0.1       # m/s at full deflection
    angular_scale: float = 0.5      # rad/s at full deflection
    deadband: float = 0.1           # fraction of full deflection ignored around rest
    enable_button: int = -1         # held to move (a dead-man switch on the device); -1: always
    gripper_button: int = 0         # toggles the gripper open/closed
    start_button: int = -1          # episode start
    success_button: int = -1        # episode end, successful
    failure_button: int = -1        # episode end, failed
    control_button: int = -1        # take control from the policy / hand it back


@dataclass
class TeleopOutput:
    """What one device reading asks for: the twist (6), whether motion is enabled, a new gripper
    command (0 open .. 1 closed) or None, and the episode/control events in order."""
    twist: np.ndarray
    enabled: bool
    gripper: float | None
    events: list[str]


def apply_deadband(x: float, deadband: float) -> float:
    """Zero within +-deadband, then rescaled so full deflection stays 1 (no step at the edge)."""
    mag = abs(x)
    if mag <= deadband:
        return 0.0
    return float(np.sign(x) * min(1.0, (mag - deadband) / (1.0 - deadband)))


class TeleopMapper:
    """Turns successive DeviceStates into TeleopOutputs; buttons act on their press: a rising edge
    between readings, or a press the device reports in `DeviceState.pressed`."""

    def __init__(self, mapping: DeviceMapping, gripper_closed: bool = False):
        if len(mapping.axes) != 6 or len(mapping.signs) != 6:
            raise ValueError(f"axes and signs need 6 entries (linear x y z, angular x y z), got "
                             f"{len(mapping.axes)} and {len(mapping.signs)}")
        if not 0.0 <= mapping.deadband < 1.0:
            raise ValueError(f"deadband must be in [0, 1), got {mapping.deadband}")
        self.m = mapping
        self.gripper_closed = gripper_closed
        self._previous: tuple[bool, ...] = ()

    def _pressed(self, state: DeviceState, index: int) -> bool:
        if index < 0:
            return False
        if index < len(state.pressed) and state.pressed[index]:
            return True
        if index >= len(state.buttons):
            return False
        was = self._previous[index] if index < len(self._previous) else False
        return state.buttons[index] and not was

    def __call__(self, state: DeviceState) -> TeleopOutput:
        """The output for this reading (module docstring)."""
        m = self.m
        twist = np.zeros(6)
        for i, (axis, sign) in enumerate(zip(m.axes, m.signs, strict=True)):
            if 0 <= axis < len(state.axes):
                scale = m.linear_scale if i < 3 else m.angular_scale
                twist[i] = sign * scale * apply_deadband(float(state.axes[axis]), m.deadband)
        enabled = m.enable_button < 0 or (m.enable_button < len(state.buttons) and state.buttons[m.enable_button])
        if not enabled:
            twist[:] = 0.0
        gripper = None
        if self._pressed(state, m.gripper_button):
            self.gripper_closed = not self.gripper_closed
            gripper = 1.0 if self.gripper_closed else 0.0
        events = [name for name in EVENTS if self._pressed(state, getattr(m, f"{name}_button"))]
        self._previous = tuple(state.buttons)
        return TeleopOutput(twist, enabled, gripper, events)
