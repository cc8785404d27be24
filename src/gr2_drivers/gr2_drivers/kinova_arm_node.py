"""rclpy node for the Kinova Gen3 + Robotiq 2F-85 (kortex_api low-level servoing).

Thin wrapper around gr2_drivers.kinova.driver: the servo loop runs in its own thread at
`cycle_rate_hz` (the UDP BaseCyclic exchange must not wait behind ROS callbacks); ROS
callbacks only hand commands over. Publishes /joint_states (7 arm joints + finger joint),
/diagnostics at 1 Hz, and offers ~/clear_faults (std_srvs/Trigger).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from gr2_contract import (
    ARM_JOINTS,
    CONTROL_RATE_HZ,
    DIAGNOSTICS,
    GRIPPER_COMMAND,
    GRIPPER_JOINT,
    JOINT_COMMAND,
    JOINT_STATES,
    STATUS_RATE_HZ,
)
from gr2_contract.node_main import run_essential, spin_plain
from gr2_contract.realtime import fifo_or_warn
from gr2_description.joint_limits import read_joint_limits
from gr2_drivers.kinova.api import KortexApi, KortexApiMissing, load_kortex_api
from gr2_drivers.kinova.arm import ArmConnectionConfig, KinovaArm
from gr2_drivers.kinova.driver import CommandRejected, DriverConfig, DriverState, KinovaDriver
from gr2_drivers.kinova.interpolation import InterpolationConfig
from gr2_msgs.msg import GripperCommand, JointCommand


class KinovaArmNode(Node):
    """The Gen3 driver node (module docstring); `api` is kortex_api or its test double."""

    def __init__(self, api: KortexApi):
        super().__init__("kinova_arm")
        p = self.declare_parameter
        conn = ArmConnectionConfig(
            robot_ip=p("robot_ip", "192.168.1.10").value,
            username=p("username", "admin").value,
            password=p("password", "admin").value,
            cyclic_timeout_ms=p("cyclic_timeout_ms", 3).value,
            config_timeout_ms=p("config_timeout_ms", 3000).value,
        )
        config = DriverConfig(
            connection=conn,
            interpolation=InterpolationConfig(command_period_s=p("command_period_s", 1.0 / CONTROL_RATE_HZ).value,
                                              max_extrapolation_s=p("max_extrapolation_s", 0.010).value),
            cycle_rate_hz=p("cycle_rate_hz", 1000.0).value,
            reconnect_after_drops=p("reconnect_after_drops", 100).value,
            backoff_initial_s=p("backoff_initial_s", 0.5).value,
            backoff_max_s=p("backoff_max_s", 8.0).value,
            velocity_scale=p("velocity_scale", 1.0).value,
            max_command_deviation=p("max_command_deviation", 0.3).value,
        )
        joint_state_rate = p("joint_state_rate_hz", 250.0).value
        robot_config = p("robot_config", "").value   # "" = config/robot.yaml (the shared URDF)
        self.realtime_priority = int(p("realtime_priority", 0).value)   # SCHED_FIFO of the servo thread
        # The executor (this thread spins the node) shares the GIL with the servo thread: see
        # gr2_contract.realtime on priority inversion.
        fifo_or_warn(int(p("support_priority", 0).value), self.get_logger(), "executor thread")
        if config.cycle_rate_hz <= 0 or joint_state_rate <= 0:
            raise ValueError("cycle_rate_hz and joint_state_rate_hz must be > 0")

        from gr2_description.robot import load_robot_description
        desc = load_robot_description(robot_config or None)
        limits = read_joint_limits(desc.urdf_path, ARM_JOINTS + (GRIPPER_JOINT,))
        config = dataclasses.replace(config, gripper_closed_joint_rad=limits[GRIPPER_JOINT].upper)
        self.driver = KinovaDriver(KinovaArm(api, conn), limits, ARM_JOINTS, GRIPPER_JOINT, config)
        self._decimation = max(1, round(config.cycle_rate_hz / joint_state_rate))

        self.joint_pub = self.create_publisher(JointState, JOINT_STATES, 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        # Joint commands: latest wins, so sensor-data QoS (connects to reliable and best-effort WBCs).
        self.create_subscription(JointCommand, JOINT_COMMAND, self._on_joint_command, qos_profile_sensor_data)
        # Gripper commands come only on change: one must not be lost, so reliable.
        self.create_subscription(GripperCommand, GRIPPER_COMMAND, self._on_gripper_command,
                                 QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.create_service(Trigger, "~/clear_faults", self._on_clear_faults)
        self.create_timer(1.0 / STATUS_RATE_HZ, self._publish_diagnostics)

        self._rate_window = (time.monotonic(), 0)
        self.measured_cycle_hz = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=run_essential, name="kinova_servo", daemon=True,
                                        args=(self, "kinova_servo", self._servo_loop, self._stop.is_set))
        self._thread.start()
        self.get_logger().info(f"Kinova Gen3 at {conn.robot_ip}: TCP 10000 + UDP 10001, "
                               f"servo at {config.cycle_rate_hz:.0f} Hz, /joint_states every {self._decimation} cycles")

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

    def report_fatal(self, reason: str) -> None:
        """The servo thread died (run_essential): ERROR on /diagnostics before the node exits 1."""
        status = DiagnosticStatus(name=f"{self.get_name()}: Kinova Gen3", hardware_id=self.driver.arm.config.robot_ip,
                                  level=DiagnosticStatus.ERROR, message=reason)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

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
