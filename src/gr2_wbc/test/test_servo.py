"""Teleoperation through the controller core (servo.py): authority, the servo twist through the
same tracking QP and limits, the dead man, the leash at the table, and handovers without a jump.
Ideal arm on a simulated clock (conftest.Loop)."""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from gr2_wbc.controller import Mode
from gr2_wbc.servo import ServoConfig, ServoTarget
from gr2_wbc.trajectory import TrajectoryConfig

from conftest import make_chunk


def _accelerations(loop, since: float = -1.0) -> np.ndarray:
    t, qd = loop.array("t"), loop.array("qd")
    keep = t > since
    return np.diff(qd[keep], axis=0) / loop.c.cfg.period


def _twist(loop, vx=0.0, vy=0.0, vz=0.0, wz=0.0, tcp=False):
    return lambda lp: lp.c.servo_command(lp.now, np.array([vx, vy, vz, 0.0, 0.0, wz]), tcp)


def test_target_limits_and_deadman_in_the_core():
    limits, cfg = TrajectoryConfig(), ServoConfig(deadman_timeout=0.2)
    target = ServoTarget(0.0, pin.SE3.Identity(), np.zeros(6), limits, cfg)
    target.set_command(0.0, np.array([5.0, 0, 0, 0, 0, 9.0]))   # far beyond the limits
    period, now, speeds = 0.005, 0.0, []
    while now < 0.15:
        target.advance(now, period)
        speeds.append(target.velocity.copy())
        now += period
    speeds = np.array(speeds)
    assert np.linalg.norm(speeds[:, :3], axis=1).max() <= limits.max_linear_velocity + 1e-12
    assert np.linalg.norm(speeds[:, 3:], axis=1).max() <= limits.max_angular_velocity + 1e-12
    assert np.abs(np.diff(speeds[:, 0])).max() <= limits.max_linear_acceleration * period + 1e-12
    # no further command: after the timeout the target brakes at the limit and stands
    while now < 0.7:
        target.advance(now, period)
        now += period
    assert target.deadman_active and not target.moving


def test_authority_takeover_chunks_refused_and_handback(loop):
    loop.run(0.05)
    assert not loop.c.servo_command(loop.now, np.zeros(6))[0]       # the policy has control
    ok, why = loop.c.take_control(loop.now)
    assert ok and loop.c.mode == Mode.TELEOP, why
    ok, why = loop.c.submit_chunk(make_chunk(loop.now, [loop.home_pose.translation] * 5, loop.quat), loop.now)
    assert not ok and "operator has control" in why
    assert not loop.c.resume(loop.now)[0]                             # an instruction does not take it back
    loop.run(0.5, on_cycle=_twist(loop, vy=0.1))
    p = loop.c.robot.forward(loop.q).translation
    assert p[1] - loop.home_pose.translation[1] > 0.03                 # moved about 4-5 cm in +y
    t_back = loop.now
    ok, why = loop.c.release_control(loop.now)
    assert ok and loop.c.mode == Mode.HOLDING, why
    # a chunk predicted before the handback is refused, a fresh one accepted
    stale = make_chunk(t_back - 0.05, [p] * 5, loop.quat, seq=1)
    assert not loop.c.submit_chunk(stale, loop.now)[0]
    loop.run(0.05)
    fresh = make_chunk(loop.now - 0.01, [p + [0.0, 0.0, 0.03]] * 5, loop.quat, seq=1)
    assert loop.c.submit_chunk(fresh, loop.now)[0]
    assert loop.c.mode == Mode.TRACKING


def test_handover_from_a_moving_policy_has_no_jump(loop, robot):
    """policy (moving at 0.2 m/s) -> operator (other direction) -> policy: joint accelerations stay
    within the limits throughout, and the TCP velocity is continuous at each handover."""
    loop.run(0.05)
    p0 = loop.home_pose.translation
    seq = 0

    def policy(lp):
        nonlocal seq
        if int(round(lp.now / lp.c.cfg.period)) % 20 == 0:        # a chunk every 0.1 s
            seq += 1
            times = lp.now + 0.1 * np.arange(1, 11)
            pos = [p0 + [0.0, 0.2 * (t - 0.05), 0.0] for t in times]
            lp.c.submit_chunk(make_chunk(lp.now, pos, lp.quat, seq=seq), lp.now)
    loop.run(0.6, on_cycle=policy)
    assert loop.c.mode == Mode.TRACKING
    assert loop.c.take_control(loop.now)[0]
    loop.run(0.8, on_cycle=lambda lp: (policy(lp), lp.c.servo_command(lp.now, np.array([0, 0, -0.1, 0, 0, 0]))))
    assert loop.c.mode == Mode.TELEOP                                 # the policy's chunks did not get through
    assert loop.c.release_control(loop.now)[0]
    seq = 0
    loop.run(0.8, on_cycle=policy)
    assert loop.c.mode == Mode.TRACKING
    acc = np.abs(_accelerations(loop))
    ratio = float((acc / robot.acceleration_limit).max())
    print(f"policy -> operator -> policy (ideal arm): peak joint acceleration {ratio:.3f} of the limit")
    assert ratio <= 1.0 + 1e-6
    assert np.all(np.abs(loop.array("qd")) <= robot.velocity_limit + 1e-9)


def test_deadman_halts_and_holds(loop):
    loop.run(0.05)
    loop.c.take_control(loop.now)
    loop.run(0.4, on_cycle=_twist(loop, vx=-0.2))
    last_command = loop.now - loop.c.cfg.period
    loop.run(1.0)                                                      # the operator's input stops
    t, qd = loop.array("t"), loop.array("qd")
    moving = t[np.abs(qd).max(axis=1) > 0.01]              # at rest: every joint below 0.01 rad/s
    halt = moving[-1] - last_command
    # the target brakes from 0.2 m/s at the Cartesian limit after the timeout; the QP settles on it
    # with its 20/s pose gain within ~0.1 s more
    bound = loop.c.cfg.servo.deadman_timeout + 0.2 / loop.c.cfg.trajectory.max_linear_acceleration + 0.15
    print(f"dead man (ideal arm): at rest {halt:.3f} s after the last command (timeout "
          f"{loop.c.cfg.servo.deadman_timeout} s, bound {bound:.3f} s)")
    assert halt <= bound
    assert loop.c.mode == Mode.TELEOP and "dead man" in loop.c.message
    loop.run(0.2, on_cycle=_twist(loop, vx=0.1))                        # input again: moves again
    assert np.abs(loop.array("qd")[-1]).max() > 1e-3


def test_teleop_keeps_the_table_margin_and_does_not_wind_up(loop, robot):
    """Pushing the TCP down into the table: the collision barrier stops it at its margin (same QP as
    chunks), the leash keeps the target close, and backing off moves the arm at once."""
    loop.run(0.05)
    loop.c.take_control(loop.now)
    loop.run(4.0, on_cycle=_twist(loop, vz=-0.3))
    margin = loop.c.cfg.tracking.collision.gripper_environment_margin
    dmin = float(np.min(loop.array("min_distance")))
    lead = np.linalg.norm(loop.c._servo.position - robot.forward(loop.q).translation)
    print(f"teleop into the table: min distance {dmin * 1e3:.1f} mm (margin {margin * 1e3:.0f} mm), "
          f"target lead {lead * 1e3:.1f} mm")
    assert dmin >= margin - 1e-3
    assert lead <= loop.c.cfg.servo.max_lead + 1e-9
    z_before = robot.forward(loop.q).translation[2]
    loop.run(0.3, on_cycle=_twist(loop, vz=0.1))
    assert robot.forward(loop.q).translation[2] > z_before + 0.005
    acc = np.abs(_accelerations(loop))
    assert np.all(acc <= robot.acceleration_limit + 1e-6)


def test_tcp_frame_twist_and_gripper(loop):
    loop.run(0.05)
    loop.c.take_control(loop.now)
    R = loop.home_pose.rotation
    loop.run(0.5, on_cycle=_twist(loop, vz=0.1, tcp=True))           # along the tool's z axis
    moved = loop.c.robot.forward(loop.q).translation - loop.home_pose.translation
    assert np.dot(moved, R[:, 2]) > 0.9 * np.linalg.norm(moved) > 0.02
    assert loop.c.servo_gripper(loop.now, 1.0)[0]
    loop.run(0.02)
    assert any(e["gripper"] == 1.0 for e in loop.log[-4:])


def test_stop_during_teleop_and_takeover_from_stopped(loop):
    loop.run(0.05)
    loop.c.take_control(loop.now)
    loop.run(0.3, on_cycle=_twist(loop, vy=0.2))
    loop.c.stop(loop.now)
    loop.run(0.6)
    assert loop.c.mode == Mode.STOPPED
    assert not loop.c.servo_command(loop.now, np.zeros(6))[0]
    assert loop.c.take_control(loop.now)[0] and loop.c.mode == Mode.TELEOP   # an operator recovers
    assert loop.c.release_control(loop.now)[0] and loop.c.mode == Mode.HOLDING
