"""kinova_arm_node: the missing-kortex_api start-up error (as a process) and the ROS wiring
in-process against the kortex_api TEST DOUBLE (the double cannot cross a process boundary)."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.multiprocess


def test_node_without_kortex_api_exits_nonzero_with_one_clear_error():
    proc = subprocess.run([sys.executable, "-m", "gr2_drivers.kinova_arm_node"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "kortex_api" in out and "pip install" in out and "kortex_api-2.6.0" in out
    assert "Traceback" not in out
    assert sum("FATAL" in line for line in out.splitlines()) == 1


def test_node_publishes_joint_states_follows_commands_and_clears_faults():
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import MultiThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_srvs.srv import Trigger

    from gr2_contract import ARM_JOINTS, DIAGNOSTICS, GRIPPER_COMMAND, GRIPPER_JOINT, JOINT_COMMAND, JOINT_STATES
    from gr2_drivers.kinova_arm_node import KinovaArmNode
    from gr2_msgs.msg import GripperCommand, JointCommand

    import kortex_api_double as double

    rclpy.init()
    fake = double.FakeGen3()
    node = KinovaArmNode(double.make_api(fake))
    probe = rclpy.create_node("kinova_probe")
    states, diags = [], []
    probe.create_subscription(JointState, JOINT_STATES, states.append, 50)
    probe.create_subscription(DiagnosticArray, DIAGNOSTICS, diags.append, 10)
    cmd_pub = probe.create_publisher(JointCommand, JOINT_COMMAND, 10)
    grip_pub = probe.create_publisher(GripperCommand, GRIPPER_COMMAND, 10)
    clear = probe.create_client(Trigger, f"/{node.get_name()}/clear_faults")
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    executor.add_node(probe)

    def spin_until(pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            if pred():
                return True
        return False

    try:
        assert spin_until(lambda: len(states) > 20, 20.0), "no /joint_states"
        first = states[-1]
        assert list(first.name) == list(ARM_JOINTS) + [GRIPPER_JOINT]
        assert first.position[3] == pytest.approx(math.radians(230 - 360), abs=1e-6)
        target = list(first.position[:7])
        target[6] += 0.05
        grip = GripperCommand(position=0.5, speed=0.5, force=0.5)

        def commanded():
            cmd = JointCommand(name=list(ARM_JOINTS), position=target, velocity=[0.0] * 7)
            cmd.header.stamp = probe.get_clock().now().to_msg()
            cmd_pub.publish(cmd)
            grip_pub.publish(grip)
            return abs(states[-1].position[6] - target[6]) < 1e-4 and abs(states[-1].position[7] - 0.4) < 1e-4
        assert spin_until(commanded, 20.0), f"arm did not follow: {states[-1].position}"
        def rate_of(d):
            return next(float(kv.value) for kv in d.status[0].values if kv.key == "cycle_rate_hz")
        assert spin_until(lambda: any(d.status[0].message == "low-level servoing" and rate_of(d) > 0
                                      for d in diags), 5.0)
        rate = rate_of(diags[-1])
        print(f"measured servo loop rate {rate:.1f} Hz (target 1000)")
        # Here the servo thread shares one interpreter (GIL) with this test's executor and the
        # double, on 2 cores, after the rest of the suite has run in this process: measured
        # 8-620 Hz. The 1 kHz target is for the robot PC (reported on /diagnostics there); this
        # checks the loop is cycling (the arm following the command above is the functional check).
        assert rate > 0.0

        fake.inject_fault()
        assert spin_until(lambda: node.driver.status.state.value == "fault", 5.0)
        future = clear.call_async(Trigger.Request())
        assert spin_until(future.done, 10.0) and future.result().success
        assert spin_until(lambda: node.driver.status.state.value == "servoing", 5.0)
        assert fake.clear_faults_calls == 1
    finally:
        node.stop()
        executor.shutdown()
        probe.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown()
    assert fake.servoing_mode == double.SINGLE_LEVEL_SERVOING and fake.sessions_open == 0
