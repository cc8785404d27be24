"""teleop_node: an input device -> the WBC's servo input (thin rclpy adapter over devices/mapping).

At `rate` Hz, while the WBC says the operator has control (/gr2/wbc/status mode TELEOP), it publishes
the device's twist on /gr2/servo/twist (geometry_msgs/TwistStamped, frame `frame`: base_link or the
TCP frame) and gripper toggles on /gr2/servo/gripper_command. The control button takes control from
the policy / hands it back through /gr2/operator_control; the episode buttons publish `start`,
`success`, `failure` on /gr2/teleop/event (a recording session turns them into one bag per episode).
If the device goes away nothing more is published: the WBC's dead man brakes the arm and holds.

    python -m gr2_bringup.teleop.teleop_node --ros-args --params-file config/teleop.yaml -p device:=gamepad
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool

import gr2_contract as contract
from gr2_contract.node_main import spin_until_shutdown
from gr2_contract.parameters import declare_dataclass
from gr2_msgs.msg import GripperCommand, WbcStatus

from .devices import DeviceUnavailable, open_device
from .mapping import DeviceMapping, TeleopMapper


@dataclass
class TeleopParameters:
    """The teleop node's parameters (config/teleop.yaml); one DeviceMapping per device kind."""
    device: str = field(default="keyboard", metadata={"description": "spacemouse, gamepad or keyboard"})
    device_path: str = field(default="", metadata={"description": "/dev/hidrawN or /dev/input/jsN; empty: found"})
    frame: str = "base_link"          # frame of the twist: base_link or tcp (MoveIt Servo's planning/EE frame)
    rate: float = 50.0                # Hz, twist publishing and device polling
    take_control_on_start: bool = False   # ask for control as soon as the WBC is up (recording sessions)
    reconnect_period: float = 1.0     # s between attempts to reopen a lost device
    gripper_speed: float = 0.5
    gripper_force: float = 0.5
    # the defaults are config/teleop.yaml's (its comments say what each number is on the device)
    spacemouse: DeviceMapping = field(default_factory=lambda: DeviceMapping(
        axes=[1, 0, 2, 4, 3, 5], signs=[-1.0] * 6, gripper_button=0, success_button=1))
    gamepad: DeviceMapping = field(default_factory=lambda: DeviceMapping(
        axes=[1, 0, 4, -1, -1, 3], signs=[-1.0, -1.0, -1.0, 1.0, 1.0, -1.0], deadband=0.15, enable_button=5,
        gripper_button=0, start_button=7, success_button=3, failure_button=1, control_button=6))
    keyboard: DeviceMapping = field(default_factory=lambda: DeviceMapping(
        linear_scale=0.05, angular_scale=0.3, deadband=0.0, gripper_button=0, start_button=1,
        success_button=2, failure_button=3, control_button=4))


class TeleopNode(Node):
    """The teleop node (module docstring)."""

    def __init__(self, **kwargs):
        super().__init__("teleop", **kwargs)
        self.p = declare_dataclass(self, TeleopParameters)
        if self.p.device not in ("spacemouse", "gamepad", "keyboard"):
            raise ValueError(f"device must be spacemouse, gamepad or keyboard, got {self.p.device!r}")
        if not self.p.rate > 0:
            raise ValueError(f"rate must be > 0, got {self.p.rate}")
        self.mapper = TeleopMapper(getattr(self.p, self.p.device))
        self.device = None
        self._next_open = 0.0
        self._open_device(first=True)
        self.has_control = False
        self._want_control = self.p.take_control_on_start   # asked again on each status until granted
        self._control_pending = False
        self.twist_pub = self.create_publisher(TwistStamped, contract.SERVO_TWIST, 10)
        self.gripper_pub = self.create_publisher(GripperCommand, contract.SERVO_GRIPPER, 10)
        self.event_pub = self.create_publisher(String, contract.TELEOP_EVENT, 10)
        self.control_client = self.create_client(SetBool, contract.OPERATOR_CONTROL)
        self.create_subscription(WbcStatus, contract.WBC_STATUS, self._on_status, contract.latched_qos())
        self.create_timer(1.0 / self.p.rate, self._tick)
        self.get_logger().info(f"teleop: {self.p.device} at {self.p.rate:.0f} Hz, twists in {self.p.frame}")

    def _open_device(self, first: bool = False) -> None:
        try:
            self.device = open_device(self.p.device, self.p.device_path)
            self.get_logger().info(f"{self.p.device} opened")
        except DeviceUnavailable as err:
            if first and self.p.device == "keyboard":
                raise   # no terminal will appear later
            self.get_logger().error(f"{err}; retrying every {self.p.reconnect_period:.0f} s",
                                    throttle_duration_sec=10.0)
            self._next_open = self._now() + self.p.reconnect_period

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_status(self, msg: WbcStatus) -> None:
        self.has_control = msg.mode == WbcStatus.MODE_TELEOP
        if self.has_control:
            self._want_control = False
        elif self._want_control:   # (the WBC refuses before its first joint state)
            self._request_control(True)

    def _request_control(self, take: bool) -> None:
        if self._control_pending:
            return
        if not self.control_client.service_is_ready():
            self.get_logger().warn(f"{contract.OPERATOR_CONTROL} is not available (is the WBC running?)")
            return
        self._control_pending = True
        future = self.control_client.call_async(SetBool.Request(data=take))

        def done(f):
            self._control_pending = False
            result = f.result()
            ok = bool(result and result.success)
            log = self.get_logger().info if ok else self.get_logger().warn
            log(f"{'take' if take else 'hand back'} control: {result.message if result else 'no answer'}")
            if ok and take:
                self.has_control = True   # (the status confirms within 20 ms)
        future.add_done_callback(done)

    def _tick(self) -> None:
        if self.device is None:
            if self._now() >= self._next_open:
                self._open_device()
            return
        try:
            state = self.device.poll()
        except DeviceUnavailable as err:
            self.get_logger().error(f"{err}: no more servo commands (the WBC's dead man holds the arm)")
            self.device.close()
            self.device = None
            self._next_open = self._now() + self.p.reconnect_period
            return
        out = self.mapper(state)
        for event in out.events:
            if event == "control":
                self._request_control(not self.has_control)
            else:
                self.event_pub.publish(String(data=event))
                self.get_logger().info(f"episode mark: {event}")
        if not self.has_control:
            return   # the WBC would ignore it: the policy (or nobody) has control
        stamp = self.get_clock().now().to_msg()
        if out.gripper is not None:
            g = GripperCommand(position=float(out.gripper), speed=self.p.gripper_speed, force=self.p.gripper_force)
            g.header.stamp = stamp
            self.gripper_pub.publish(g)
        msg = TwistStamped()
        msg.header.stamp, msg.header.frame_id = stamp, self.p.frame
        t = msg.twist
        t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = (float(v) for v in out.twist)
        self.twist_pub.publish(msg)

    def destroy_node(self):
        """Give the device (and a terminal's settings) back."""
        if self.device is not None:
            self.device.close()
            self.device = None
        return super().destroy_node()


def main(args=None) -> None:
    """Run the teleop node until Ctrl-C (`--help`: what it does and its parameters)."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__)
        print("parameters (config/teleop.yaml): " + ", ".join(
            f.name for f in __import__("dataclasses").fields(TeleopParameters)))
        return
    spin_until_shutdown(TeleopNode, args)


if __name__ == "__main__":
    main()
    sys.exit(0)
