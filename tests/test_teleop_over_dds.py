"""Teleoperation over DDS: sim + WBC + teleop node as real processes; a scripted gamepad test double
(gr2_testing.joystick_double, Linux joystick events through a FIFO the node opens as its device)
drives a pick through the teleop node while a stand-in policy streams chunks.

Measured: policy -> operator -> policy handovers keep the peak joint acceleration of every command
within the limits, every command stays within the URDF position and velocity limits, the policy's
chunks are refused while the operator has control, the gripper command goes out, and the dead man
(teleop node frozen with SIGSTOP mid-motion) brings the arm to rest within the configured timeout
plus the braking time."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data

import gr2_contract as contract
from gr2_msgs.msg import ActionChunk, GripperCommand, JointCommand, RobotState, SimContacts, WbcStatus
from gr2_testing.joystick_double import JoystickDouble
from gr2_testing.messages import action_chunk
from gr2_testing.processes import wait_for
from gr2_wbc.config import default_config_path, load_controller_config
from gr2_wbc.robot_model import RobotModel

CONFIG = default_config_path().parent
# config/teleop.yaml's gamepad numbering
RIGHT_Y, ENABLE, GRIPPER, CONTROL = 4, 5, 0, 6


class Probe:
    """Watches commands, status, state and contacts; plays a policy that streams chunks."""

    def __init__(self):
        self.node = rclpy.create_node("teleop_test_probe")
        n = self.node
        self.commands: list[tuple[float, np.ndarray, np.ndarray]] = []
        self.status: list[tuple[float, WbcStatus]] = []
        self.states: list[RobotState] = []
        self.grippers: list[GripperCommand] = []
        self.contacts: list[float] = []
        n.create_subscription(JointCommand, contract.JOINT_COMMAND, self._on_command, 500)
        n.create_subscription(WbcStatus, contract.WBC_STATUS, lambda m: self.status.append((time.monotonic(), m)),
                              contract.latched_qos())
        n.create_subscription(RobotState, contract.ROBOT_STATE, self.states.append, qos_profile_sensor_data)
        n.create_subscription(GripperCommand, contract.GRIPPER_COMMAND, self.grippers.append, 10)
        n.create_subscription(SimContacts, contract.SIM_CONTACTS, lambda m: self.contacts.append(m.min_distance), 10)
        self.chunk_pub = n.create_publisher(ActionChunk, contract.ACTION_CHUNK, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self._policy = threading.Event()

    def _on_command(self, m: JointCommand) -> None:
        self.commands.append((contract.stamp_seconds(m.header.stamp), np.array(m.position), np.array(m.velocity)))

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def mode(self) -> int:
        return self.status[-1][1].mode if self.status else -1

    def start_policy(self, p0: np.ndarray, quat) -> None:
        """A stand-in policy: a chunk every 0.1 s, sweeping +-8 cm in y around p0 with a 4 s period."""
        def run():
            seq = 0
            while self._policy.is_set():
                stamp = self.now()
                times = stamp + 0.1 * np.arange(1, 11)
                poses = [p0 + [0.0, 0.08 * np.sin(2 * np.pi * t / 4.0), 0.0] for t in times]
                seq += 1
                self.chunk_pub.publish(action_chunk(stamp, poses, quat, 0.1, seq))
                time.sleep(0.1)
        self._policy.set()
        threading.Thread(target=run, daemon=True).start()

    def close(self):
        self._policy.clear()
        self.executor.shutdown()
        self.thread.join(timeout=5.0)
        self.node.destroy_node()


def _accelerations(commands, t0: float, t1: float, period: float) -> np.ndarray:
    """|dqd/dt| between consecutive joint commands stamped in [t0, t1] (rad/s^2, per joint), over the
    control cycles between them: the WBC integrates one nominal period per cycle, whenever the
    cycle woke (its stamps carry the wake-up jitter of a loaded host, which is not the arm's)."""
    rows = [(t, v) for t, _, v in commands if t0 <= t <= t1]
    t = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    cycles = np.maximum(1, np.round(np.diff(t) / period))[:, None]
    return np.abs(np.diff(v, axis=0)) / (cycles * period)


def _rest_after(commands, t0: float, speed: float = 0.01) -> float:
    """Seconds from t0 until every later command is below `speed` rad/s."""
    after = [(t, np.abs(v).max()) for t, _, v in commands if t >= t0]
    moving = [t for t, v in after if v >= speed]
    return (moving[-1] if moving else t0) - t0


@pytest.mark.multiprocess
@pytest.mark.slow
def test_teleop_pick_deadman_and_handover(node_processes, tmp_path):
    cfg = load_controller_config()
    robot = RobotModel.load(cfg.model)
    pad = JoystickDouble(tmp_path / "js_double")
    node_processes.start([sys.executable, "-m", "gr2_drivers.sim_node", "--ros-args", "--params-file",
                          str(CONFIG / "sim.yaml"), "-p", "camera_rate:=2.0"], name="sim")
    node_processes.start([sys.executable, "-m", "gr2_wbc.wbc_node", "--ros-args", "--params-file",
                          str(CONFIG / "wbc.yaml")], name="wbc")
    teleop = node_processes.start([sys.executable, "-m", "gr2_bringup.teleop.teleop_node", "--ros-args",
                                   "--params-file", str(CONFIG / "teleop.yaml"), "-p", "device:=gamepad",
                                   "-p", f"device_path:={pad.path}"], name="teleop")
    rclpy.init()
    probe = Probe()
    try:
        wait_for(lambda: node_processes.assert_running() or len(probe.states) > 20, 90, what="/gr2/robot_state")
        wait_for(lambda: probe.status, 10, what="/gr2/wbc/status")
        first = probe.states[-1]
        p0 = np.array([first.ee_pose.position.x, first.ee_pose.position.y, first.ee_pose.position.z])
        o = first.ee_pose.orientation
        probe.start_policy(p0, (o.x, o.y, o.z, o.w))
        wait_for(lambda: probe.mode() == WbcStatus.MODE_TRACKING, 10, what="the policy tracking")
        time.sleep(1.0)                                   # the policy moves the arm

        # policy -> operator, mid-motion
        t_take = probe.now()
        pad.click(CONTROL)
        wait_for(lambda: probe.mode() == WbcStatus.MODE_TELEOP, 5, what="TELEOP after the control button")
        rejected_at_take = probe.status[-1][1].chunks_rejected
        # the pick: down 8 cm, close, up (RB held: the gamepad's enable switch)
        pad.button(ENABLE, True)
        pad.axis(RIGHT_Y, 1.0)                            # +1 down the stick: -z at 0.1 m/s
        time.sleep(0.9)
        pad.axis(RIGHT_Y, 0.0)
        time.sleep(0.3)
        z_low = probe.states[-1].ee_pose.position.z
        pad.click(GRIPPER)
        time.sleep(0.5)
        pad.axis(RIGHT_Y, -1.0)                           # up
        time.sleep(0.6)
        # dead man: the teleop node freezes mid-motion (its last twist said "up at 0.1 m/s")
        t_freeze = probe.now()
        os.kill(teleop.pid, signal.SIGSTOP)
        time.sleep(1.2)
        pad.axis(RIGHT_Y, 0.0)
        os.kill(teleop.pid, signal.SIGCONT)
        halt = _rest_after(probe.commands, t_freeze)
        assert probe.mode() == WbcStatus.MODE_TELEOP
        assert probe.status[-1][1].chunks_rejected > rejected_at_take   # the policy's chunks were refused
        time.sleep(0.3)

        # operator -> policy
        t_back = probe.now()
        pad.click(CONTROL)
        wait_for(lambda: probe.mode() in (WbcStatus.MODE_HOLDING, WbcStatus.MODE_TRACKING), 5, what="handback")
        wait_for(lambda: probe.mode() == WbcStatus.MODE_TRACKING, 5, what="the policy tracking again")
        time.sleep(1.0)
        node_processes.assert_running()

        limit = robot.acceleration_limit
        take = float((_accelerations(probe.commands, t_take - 0.1, t_take + 0.6, cfg.period) / limit).max())
        back = float((_accelerations(probe.commands, t_back - 0.1, t_back + 0.8, cfg.period) / limit).max())
        whole = float((_accelerations(probe.commands, t_take - 1.0, probe.now(), cfg.period) / limit).max())
        q = np.array([c[1] for c in probe.commands])
        qd = np.array([c[2] for c in probe.commands])
        timeout = cfg.servo.deadman_timeout
        braking = 0.1 / cfg.trajectory.max_linear_acceleration
        print(f"teleop pick over DDS: TCP down to z {z_low:.3f} m from {p0[2]:.3f} m; peak joint acceleration / limit: "
              f"policy->operator {take:.3f}, operator->policy {back:.3f}, whole run {whole:.3f}; dead man: at rest "
              f"(< 0.01 rad/s) {halt:.3f} s after the teleop node froze (timeout {timeout} s + braking from 0.1 m/s "
              f"{braking:.3f} s); min sim distance {min(probe.contacts, default=float('nan')) * 1e3:.1f} mm; "
              f"{len(probe.commands)} commands")
        assert p0[2] - z_low > 0.05
        assert any(g.position == pytest.approx(1.0) for g in probe.grippers)
        assert take <= 1.0 + 1e-6 and back <= 1.0 + 1e-6 and whole <= 1.0 + 1e-6
        assert np.all(np.abs(qd) <= robot.velocity_limit + 1e-9)
        assert np.all(q <= robot.upper + 1e-9) and np.all(q >= robot.lower - 1e-9)
        # timeout, braking, the QP settling on the braked target (~0.1 s), and the last twist may
        # have left the node up to one 50 Hz period before the freeze
        assert halt <= timeout + braking + 0.15 + 0.02
        if probe.contacts:
            assert min(probe.contacts) >= cfg.tracking.collision.gripper_environment_margin - 1e-3
    finally:
        probe.close()
        rclpy.try_shutdown()
        pad.close()
