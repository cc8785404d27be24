"""rclpy node for the Kinova Gen3 + Robotiq 2F-85 (kortex_api low-level servoing).

Thin wrapper around gr2_drivers.kinova.driver: the servo loop runs in its own thread at
`cycle_rate_hz` (the UDP BaseCyclic exchange must not wait behind ROS callbacks); ROS
callbacks only hand commands over. Publishes /joint_states (7 arm joints + finger joint),
/diagnostics at 1 Hz, and offers ~/clear_faults (std_srvs/Trigger).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from gr2_contract import (
    ARM_JOINTS,
    DIAGNOSTICS,
    GRIPPER_COMMAND,
    GRIPPER_JOINT,
    HIGH_RATE_HISTORY_DEPTH,
    JOINT_COMMAND,
    JOINT_STATES,
    STATUS_RATE_HZ,
)
from gr2_contract.node_main import run_essential, spin_plain
from gr2_contract.parameters import declare_dataclass
from gr2_contract.realtime import fifo_or_warn
from gr2_description.joint_limits import read_joint_limits
from gr2_drivers.kinova.api import KortexApi, KortexApiMissing, load_kortex_api
from gr2_drivers.kinova.arm import ArmConnectionConfig, KinovaArm
from gr2_drivers.kinova.driver import CommandRejected, DriverConfig, DriverState, KinovaDriver
from gr2_drivers.kinova.interpolation import InterpolationConfig
from gr2_msgs.msg import GripperCommand, JointCommand

_CONN, _DRIVER, _INTERP = ArmConnectionConfig, DriverConfig, InterpolationConfig


@dataclass
class KinovaParameters:
    """The driver node's parameters (config/kinova.yaml), flat; defaults are the driver's config
    dataclasses' (ArmConnectionConfig, DriverConfig, InterpolationConfig), which `driver_config`
    fills in."""
    robot_ip: str = _CONN.robot_ip
    username: str = _CONN.username
    password: str = _CONN.password
    cyclic_timeout_ms: int = _CONN.cyclic_timeout_ms
    config_timeout_ms: int = _CONN.config_timeout_ms
    command_period_s: float = _INTERP.command_period_s
    max_extrapolation_s: float = _INTERP.max_extrapolation_s
    cycle_rate_hz: float = _DRIVER.cycle_rate_hz
    reconnect_after_drops: int = _DRIVER.reconnect_after_drops
    backoff_initial_s: float = _DRIVER.backoff_initial_s
    backoff_max_s: float = _DRIVER.backoff_max_s
    velocity_scale: float = _DRIVER.velocity_scale
    max_command_deviation: float = _DRIVER.max_command_deviation
    joint_state_rate_hz: float = 250.0    # /joint_states publish rate (>= 200 Hz, contract v1)
    robot_config: str = ""                # "" = config/robot.yaml (the shared URDF)
    realtime_priority: int = 0            # SCHED_FIFO of the servo thread (0: normal scheduling)
    support_priority: int = 0             # SCHED_FIFO of the executor thread (0: normal scheduling)

    def driver_config(self) -> DriverConfig:
        """DriverConfig (with its connection and interpolation) of these parameters."""
        return DriverConfig(
            connection=ArmConnectionConfig(robot_ip=self.robot_ip, username=self.username, password=self.password,
                                           cyclic_timeout_ms=self.cyclic_timeout_ms,
                                           config_timeout_ms=self.config_timeout_ms),
            interpolation=InterpolationConfig(command_period_s=self.command_period_s,
                                              max_extrapolation_s=self.max_extrapolation_s),
            cycle_rate_hz=self.cycle_rate_hz, reconnect_after_drops=self.reconnect_after_drops,
            backoff_initial_s=self.backoff_initial_s, backoff_max_s=self.backoff_max_s,
            velocity_scale=self.velocity_scale, max_command_deviation=self.max_command_deviation)


class KinovaArmNode(Node):
    """The Gen3 driver node (module docstring); `api` is kortex_api or its test double."""

    def __init__(self, api: KortexApi):
        super().__init__("kinova_arm")
        params = self._declare_parameters()
        config = self._create_driver(api, params)
        self._decimation = max(1, round(config.cycle_rate_hz / params.joint_state_rate_hz))
        self._create_interfaces()
        self._start_servo_thread()
        self.get_logger().info(f"Kinova Gen3 at {config.connection.robot_ip}: TCP 10000 + UDP 10001, "
                               f"servo at {config.cycle_rate_hz:.0f} Hz, /joint_states every {self._decimation} cycles")

    def _declare_parameters(self) -> KinovaParameters:
        params = declare_dataclass(self, KinovaParameters)
        self.realtime_priority = params.realtime_priority   # SCHED_FIFO of the servo thread
        # The executor (this thread spins the node) shares the GIL with the servo thread: see
        # gr2_contract.realtime on priority inversion.
        fifo_or_warn(params.support_priority, self.get_logger(), "executor thread")
        if params.cycle_rate_hz <= 0 or params.joint_state_rate_hz <= 0:
            raise ValueError("cycle_rate_hz and joint_state_rate_hz must be > 0")
        return params

    def _create_driver(self, api: KortexApi, params: KinovaParameters) -> DriverConfig:
        """The KinovaDriver (joint limits from the shared URDF); returns its DriverConfig."""
        from gr2_description.robot import load_robot_description
        config = params.driver_config()
        desc = load_robot_description(params.robot_config or None)
        limits = read_joint_limits(desc.urdf_path, ARM_JOINTS + (GRIPPER_JOINT,))
        self.driver = KinovaDriver(KinovaArm(api, config.connection), limits, ARM_JOINTS, GRIPPER_JOINT, config)
        return config

    def _create_interfaces(self) -> None:
        """Joint state and diagnostics publishers, command subscriptions, ~/clear_faults, the diagnostics timer."""
        self.joint_pub = self.create_publisher(JointState, JOINT_STATES, HIGH_RATE_HISTORY_DEPTH)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        # Joint commands: latest wins, so sensor-data QoS (connects to reliable and best-effort WBCs).
        self.create_subscription(JointCommand, JOINT_COMMAND, self._on_joint_command, qos_profile_sensor_data)
        # Gripper commands come only on change: one must not be lost, so reliable.
        self.create_subscription(GripperCommand, GRIPPER_COMMAND, self._on_gripper_command,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.create_service(Trigger, "~/clear_faults", self._on_clear_faults)
        self.create_timer(1.0 / STATUS_RATE_HZ, self._publish_diagnostics)

    def _start_servo_thread(self) -> None:
        self._rate_window = (time.monotonic(), 0)
        self.measured_cycle_hz = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=run_essential, name="kinova_servo", daemon=True,
                                        args=(self, "kinova_servo", self._servo_loop, self._stop.is_set))
        self._thread.start()

    # -- ROS inputs ------------------------------------------------------------------------------
    def _on_joint_command(self, msg: JointCommand) -> None:
        try:
            self.driver.submit_joint_command(list(msg.name), list(msg.position), list(msg.velocity))
        except CommandRejected as exc:
            self.get_logger().warn(f"joint command rejected, holding the last valid one: {exc}",
                                   throttle_duration_sec=1.0)

    def _on_gripper_command(self, msg: GripperCommand) -> None:
        try:
            self.driver.submit_gripper_command(msg.position, msg.speed, msg.force)
        except CommandRejected as exc:
            self.get_logger().warn(f"gripper command rejected: {exc}")

    def _on_clear_faults(self, request, response):
        self.driver.request_clear_faults()
        response.success = True
        response.message = (f"clear-faults requested (state {self.driver.status.state.value}); "
                            "servoing resumes from the measured position")
        return response

    # -- servo thread ------------------------------------------------------------------------------
    def _servo_loop(self) -> None:
        # The servo loop is the robot side's heartbeat: real-time, below the WBC's control thread.
        fifo_or_warn(self.realtime_priority, self.get_logger(), "servo thread")
        period = 1.0 / self.driver.config.cycle_rate_hz
        next_t = time.monotonic()
        count = 0
        while not self._stop.is_set():
            now = time.monotonic()
            sample = self.driver.step(now)
            count += 1
            if sample is not None and count % self._decimation == 0:
                self._publish_joint_state(sample)
            start, n = self._rate_window
            if now - start >= 1.0:
                self.measured_cycle_hz = (count - n) / (now - start)
                self._rate_window = (now, count)
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_t = time.monotonic()     # overran: do not try to catch up with a burst
        self.driver.shutdown()

    def _publish_joint_state(self, sample) -> None:
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = sample.names
        msg.position = sample.position
        msg.velocity = sample.velocity
        msg.effort = sample.effort
        self.joint_pub.publish(msg)

    def report_fatal(self, reason: str):
        """The servo thread died (run_essential): ERROR on /diagnostics before the node exits 1. Returns the
        publisher it used (gr2_contract.node_main repeats the report until a subscriber has heard it)."""
        status = DiagnosticStatus(name=f"{self.get_name()}: Kinova Gen3", hardware_id=self.driver.arm.config.robot_ip,
                                  level=DiagnosticStatus.ERROR, message=reason)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)
        return self.diag_pub

    def _publish_diagnostics(self) -> None:
        s = self.driver.status
        status = DiagnosticStatus(name=f"{self.get_name()}: Kinova Gen3", hardware_id=self.driver.arm.config.robot_ip)
        if s.state == DriverState.SERVOING and s.drops_consecutive == 0:
            status.level, status.message = DiagnosticStatus.OK, "low-level servoing"
        elif s.state == DriverState.SERVOING:
            status.level, status.message = DiagnosticStatus.WARN, f"holding: {s.drops_consecutive} cycles dropped"
        else:
            status.level, status.message = DiagnosticStatus.ERROR, f"{s.state.value}: {s.last_error}"
        values = {"state": s.state.value, "cycle_rate_hz": f"{self.measured_cycle_hz:.1f}",
                  "cycles": s.cycles, "drops_total": s.drops_total, "drops_consecutive": s.drops_consecutive,
                  "reconnects": s.reconnects, "connect_failures": s.connect_failures,
                  "next_attempt_in_s": s.next_attempt_in_s, "commands_accepted": s.commands_accepted,
                  "commands_rejected": s.commands_rejected, "last_rejection": s.last_rejection,
                  "arm_state": s.arm_state, "fault_bank_a": s.fault_bank_a, "fault_bank_b": s.fault_bank_b,
                  "last_error": s.last_error}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = [status]
        self.diag_pub.publish(msg)

    def stop(self) -> None:
        """Stop the servo thread; it leaves low-level servoing and closes the sessions."""
        self._stop.set()
        self._thread.join(timeout=5.0)


def main(args=None) -> int:
    """Run the Kinova node until shutdown; 1 when kortex_api is not installed or an essential thread died."""
    rclpy.init(args=args)
    try:
        api = load_kortex_api()
    except KortexApiMissing as exc:
        rclpy.logging.get_logger("kinova_arm").fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    node = None
    code = 0
    try:
        node = KinovaArmNode(api)
        code = spin_plain(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
