"""Kinova driver core against the kortex_api TEST DOUBLE (no arm exists on this machine)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr2_contract import ARM_JOINTS, GRIPPER_JOINT
from gr2_description.joint_limits import read_joint_limits
from gr2_description.robot import load_robot_description
from gr2_drivers.kinova import units
from gr2_drivers.kinova.arm import TCP_PORT, UDP_PORT, ArmConnectionConfig, KinovaArm
from gr2_drivers.kinova.driver import CommandRejected, DriverConfig, DriverState, KinovaDriver

import kortex_api_double as double

DT = 0.001


@pytest.fixture(scope="module")
def limits():
    desc = load_robot_description()
    return read_joint_limits(desc.urdf_path, ARM_JOINTS + (GRIPPER_JOINT,))


def make_driver(limits, arm_state: double.FakeGen3 | None = None, **config):
    fake = arm_state or double.FakeGen3()
    arm = KinovaArm(double.make_api(fake), ArmConnectionConfig(robot_ip=fake.ip))
    cfg = DriverConfig(connection=arm.config, **config)
    driver = KinovaDriver(arm, limits, ARM_JOINTS, GRIPPER_JOINT, cfg)
    return driver, fake


def run(driver, t0: float, cycles: int):
    t = t0
    sample = None
    for _ in range(cycles):
        t += DT
        sample = driver.step(t) or sample
    return t, sample


def test_urdf_limits_are_read(limits):
    assert limits["joint_1"].continuous and not limits["joint_2"].continuous
    assert limits["joint_2"].upper == pytest.approx(2.24)
    assert limits[GRIPPER_JOINT].upper == pytest.approx(0.8)


def test_startup_opens_tcp_and_udp_sessions_and_enters_low_level(limits):
    driver, fake = make_driver(limits)
    assert driver.status.state == DriverState.DISCONNECTED
    sample = driver.step(0.0)
    assert driver.status.state == DriverState.SERVOING
    assert fake.transports_open == {TCP_PORT, UDP_PORT}
    assert fake.sessions_open == 2
    assert fake.mode_changes == [double.LOW_LEVEL_SERVOING]
    # First frame equals the measured position: switching mode does not move the arm.
    assert fake.commands[0][1] == pytest.approx([0.0, 15.0, 180.0, 230.0, 0.0, 55.0, 90.0])
    assert sample is None and driver.latest is not None
    assert driver.latest.names == list(ARM_JOINTS) + [GRIPPER_JOINT]


def test_feedback_mapping_degrees_to_radians_and_gripper_percent(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    _, sample = run(driver, 0.0, 3)
    expected = [0.0, math.radians(15), math.pi, math.radians(230 - 360), 0.0, math.radians(55), math.radians(90)]
    assert sample.position[:7] == pytest.approx(expected, abs=1e-9)
    assert sample.position[7] == pytest.approx(0.10 * 0.8)   # 10 % of the 2F-85 stroke, URDF closed = 0.8 rad
    assert len(sample.velocity) == len(sample.effort) == 8


def test_command_mapping_radians_to_degrees_with_interpolation(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    start = np.array(driver.latest.position[:7])
    target = start + np.array([0.002, -0.002, 0.001, 0.0, 0.0, 0.0, -0.003])
    driver.submit_joint_command(list(ARM_JOINTS), list(target), [0.0] * 7)
    _, sample = run(driver, 0.0, 10)     # 10 ms > one command period (5 ms): setpoint at the target
    last_deg = fake.commands[-1][1]
    assert last_deg == pytest.approx([units.rad_to_kinova_deg(x) for x in target], abs=1e-9)
    assert all(0.0 <= d < 360.0 for d in last_deg)
    assert sample.position[:7] == pytest.approx(list(target), abs=1e-9)
    # Interpolated, not a step: the first cycle after the command moves only part of the way.
    first_after = np.array(fake.commands[2][1])
    assert 0.0 < abs(first_after[6] - 90.0) < abs(math.degrees(-0.003))


def test_continuous_joint_crossing_zero_stays_continuous(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    q = np.array(driver.latest.position[:7])
    t = 0.0
    for k in range(1, 40):      # drive joint_1 from 0 to -0.039 rad: the arm reports ~358 degrees
        q[0] = -0.001 * k
        driver.submit_joint_command(list(ARM_JOINTS), list(q), [0.0] * 7)
        t, sample = run(driver, t, 5)
    t, sample = run(driver, t, 5)
    assert fake.positions_deg[0] > 357.0
    assert sample.position[0] == pytest.approx(-0.039, abs=1e-6)


def test_gripper_command_fraction_to_percent_and_feedback(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    driver.submit_gripper_command(0.75, 0.5, 0.2)
    _, sample = run(driver, 0.0, 30)
    assert fake.commands[-1][2] == pytest.approx((75.0, 50.0, 20.0))
    assert fake.gripper_percent == pytest.approx(75.0)
    assert sample.position[7] == pytest.approx(0.75 * 0.8)
    with pytest.raises(CommandRejected):
        driver.submit_gripper_command(1.5, 0.5, 0.5)


@pytest.mark.parametrize("names,pos,why", [
    (list(ARM_JOINTS[:6]), [0.0] * 6, "names"),
    (list(ARM_JOINTS), [0.0] * 6 + [float("nan")], "NaN"),
    (list(ARM_JOINTS), [0.0, 3.0, 0, 0, 0, 0, 0], "limits"),
    (list(ARM_JOINTS), [0.5, 0, 0, 0, 0, 0, 0], "from its measured position"),   # a stale target
])
def test_bad_commands_are_rejected_and_the_last_valid_one_held(limits, names, pos, why):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    held = list(driver.latest.position[:7])
    with pytest.raises(CommandRejected, match=why):
        driver.submit_joint_command(names, pos, [])
    run(driver, 0.0, 10)
    assert fake.commands[-1][1] == pytest.approx([units.rad_to_kinova_deg(x) for x in held])
    assert driver.status.commands_rejected == 1


def test_command_speed_is_bounded_by_urdf_velocity(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    q = np.array(driver.latest.position[:7])
    q[0] += 0.25                                   # a 0.25 rad jump in one command (within max_command_deviation)
    driver.submit_joint_command(list(ARM_JOINTS), list(q), [0.0] * 7)
    run(driver, 0.0, 11)         # the segment starts at the current setpoint: 10 cycles of motion
    moved = math.radians(fake.commands[-1][1][0])
    assert moved == pytest.approx(10 * DT * limits["joint_1"].velocity, rel=1e-6)


def test_dropped_cycles_are_counted_and_held_without_reconnect(limits):
    driver, fake = make_driver(limits, reconnect_after_drops=50)
    driver.step(0.0)
    run(driver, 0.0, 5)
    fake.drop_next(10)
    t, _ = run(driver, 0.005, 10)
    assert driver.status.drops_total == 10 and driver.status.state == DriverState.SERVOING
    assert fake.sessions_created == 2                  # no reconnect for a short burst
    n = len(fake.commands)
    run(driver, t, 5)
    assert len(fake.commands) == n + 5 and driver.status.drops_consecutive == 0


def test_timeout_burst_reconnects_with_backoff(limits):
    driver, fake = make_driver(limits, reconnect_after_drops=20, backoff_initial_s=0.5, backoff_max_s=2.0)
    driver.step(0.0)
    fake.link_up = False
    t, _ = run(driver, 0.0, 20)
    assert driver.status.state == DriverState.RECONNECTING
    assert driver.status.drops_total == 20
    # Leaving servoing failed on the dead link; attempts come after 0.5, 1.0, 2.0, 2.0 s.
    attempts_before = driver.status.connect_failures
    t, _ = run(driver, t, 4000)                # 4 s with the link still down
    assert driver.status.connect_failures - attempts_before == 3   # at +0.5, +1.5, +3.5 s
    assert driver.status.next_attempt_in_s == pytest.approx(2.0)
    fake.link_up = True
    fake.servoing_mode = double.SINGLE_LEVEL_SERVOING
    t, sample = run(driver, t, 2500)
    assert driver.status.state == DriverState.SERVOING and driver.status.reconnects == 1
    assert sample is not None and fake.servoing_mode == double.LOW_LEVEL_SERVOING


def test_fault_holds_until_clear_faults_then_resumes(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    fake.inject_fault()
    t, sample = run(driver, 0.0, 5)
    assert driver.status.state == DriverState.FAULT
    n = len(fake.commands)
    t, sample = run(driver, t, 20)
    assert len(fake.commands) == n and sample is not None      # feedback still flows, no commands
    driver.request_clear_faults()
    t, _ = run(driver, t, 5)
    assert fake.clear_faults_calls == 1 and driver.status.state == DriverState.SERVOING
    assert len(fake.commands) > n


def test_clean_shutdown_leaves_low_level_and_closes_sessions(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    run(driver, 0.0, 5)
    driver.shutdown()
    assert fake.servoing_mode == double.SINGLE_LEVEL_SERVOING
    assert fake.mode_changes[-1] == double.SINGLE_LEVEL_SERVOING
    assert fake.sessions_open == 0 and fake.transports_open == set()
    driver.shutdown()                            # idempotent
    assert driver.step(1.0) is None


def test_cyclic_calls_use_the_short_udp_timeout(limits):
    driver, fake = make_driver(limits)
    driver.step(0.0)
    fake.last_timeouts_ms.clear()
    run(driver, 0.0, 3)
    assert fake.last_timeouts_ms == [3, 3, 3]


def test_continuous_joint_keeps_its_branch_across_a_reconnect(limits):
    """Issue example: joint_1 driven to 200 degrees (3.4907 rad), the UDP link drops and the driver
    reconnects: the reading continues at 3.4907 (not -2.7925), and a command in that branch is
    reached by the shortest motion (no turn the long way round)."""
    driver, fake = make_driver(limits, reconnect_after_drops=20, backoff_initial_s=0.1, backoff_max_s=0.1)
    driver.step(0.0)
    q = np.array(driver.latest.position[:7])
    t = 0.0
    target = math.radians(200.0)
    while q[0] < target - 1e-9:                  # within max_command_deviation of the reading
        q[0] = min(target, q[0] + 0.2)
        driver.submit_joint_command(list(ARM_JOINTS), list(q), [0.0] * 7)
        t, sample = run(driver, t, 400)
    assert sample.position[0] == pytest.approx(target, abs=1e-6) and fake.positions_deg[0] == pytest.approx(200.0)
    fake.link_up = False
    t, _ = run(driver, t, 25)
    assert driver.status.state == DriverState.RECONNECTING
    fake.link_up = True
    fake.servoing_mode = double.SINGLE_LEVEL_SERVOING
    t, sample = run(driver, t, 300)
    assert driver.status.state == DriverState.SERVOING and driver.status.reconnects == 1
    assert sample.position[0] == pytest.approx(target, abs=1e-6)     # no -2*pi step
    # the WBC's command, still in that branch, holds the arm where it is
    deg_before = fake.positions_deg[0]
    driver.submit_joint_command(list(ARM_JOINTS), list(sample.position[:7]), [0.0] * 7)
    t, sample = run(driver, t, 100)
    assert fake.positions_deg[0] == pytest.approx(deg_before, abs=1e-6)
    # a target written in the other branch (-160 degrees) is the same pose: no motion at all
    other = list(sample.position[:7])
    other[0] = target - 2 * math.pi
    n = len(fake.commands)
    driver.submit_joint_command(list(ARM_JOINTS), other, [0.0] * 7)
    t, sample = run(driver, t, 100)
    sent = np.array([c[1][0] for c in fake.commands[n:]])
    assert np.abs(sent - deg_before).max() < 1e-6, "the arm was commanded away on the way between branches"
