"""Controller core: continuity at chunk switches, limits, rejections, stop, stale inputs,
collision margin, gripper timing, and the optimiser-vs-naive smoothness comparison."""

from __future__ import annotations

import numpy as np
import pytest

from gr2_wbc.controller import Mode
from gr2_wbc.tracking_qp import TrackingQP

from conftest import Loop, make_chunk


def path_chunk(loop: Loop, stamp: float, offset=(0.0, 0.0, 0.0), k: int = 10, dt: float = 0.1,
               speed: float = 0.2, seq: int = 0, gripper=None):
    """Chunk along a line in +y from the home TCP at `speed` (a pick-and-place style sweep)."""
    p0 = loop.home_pose.translation + np.asarray(offset)
    times = stamp + dt * np.arange(1, k + 1)
    pos = np.array([p0 + np.array([0.0, speed * t, 0.0]) for t in times])
    return make_chunk(stamp, pos, loop.quat, gripper=gripper, dt=dt, seq=seq)


def test_tracks_a_chunk_and_switches_continuously(loop):
    loop.run(0.05)
    assert loop.c.mode == Mode.IDLE
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.05, seq=1), loop.now)
    assert ok, why
    loop.run(0.3)
    # a second chunk that disagrees with the first by 2 cm: the reference must not jump
    t_switch = loop.now
    before = loop.c._sample(t_switch)
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.05, offset=(0.0, 0.0, 0.02), seq=2), loop.now)
    assert ok, why
    after = loop.c._sample(t_switch)
    np.testing.assert_allclose(after.position, before.position, atol=1e-9)
    np.testing.assert_allclose(after.linear_velocity, before.linear_velocity, atol=1e-9)
    np.testing.assert_allclose(after.rotation, before.rotation, atol=1e-9)
    np.testing.assert_allclose(after.angular_velocity, before.angular_velocity, atol=1e-9)
    loop.run(1.5)
    assert loop.c.mode == Mode.HOLDING        # chunk finished: the TCP rests at its last pose
    robot = loop.c.robot                      # (the null space may still climb manipulability)
    robot.update(loop.log[-1]["q"])
    assert np.linalg.norm(robot.tcp_jacobian()[:3] @ loop.log[-1]["qd"]) < 1e-4
    err = loop.array("error")
    assert err[-1] < 1e-4


def test_joint_limits_are_respected_for_an_unreachable_chunk(loop, robot):
    loop.run(0.02)
    far = loop.home_pose.translation + np.array([0.6, 0.4, 0.3])   # out of reach: pulls joints to their limits
    chunk = make_chunk(loop.now, [far] * 10, loop.quat, dt=0.2)
    assert loop.c.submit_chunk(chunk, loop.now)[0]
    loop.run(2.5)
    q, qd = loop.array("q"), loop.array("qd")
    acc = np.diff(qd, axis=0) / loop.c.cfg.period
    assert np.all(np.abs(qd) <= robot.velocity_limit + 1e-9)
    assert np.all(np.abs(acc) <= robot.acceleration_limit + 1e-6)
    assert np.all(q <= robot.upper + 1e-9) and np.all(q >= robot.lower - 1e-9)
    assert np.abs(qd).max() > 0.3 * robot.velocity_limit.min()    # it did move


@pytest.mark.parametrize("mutate, reason", [
    (lambda c: setattr(c, "positions", c.positions[:0]) or setattr(c, "quaternions", c.quaternions[:0])
     or setattr(c, "gripper", c.gripper[:0]), "empty"),
    (lambda c: c.positions.__setitem__((3, 1), np.nan), "NaN/inf in positions"),
    (lambda c: c.quaternions.__setitem__((2, 0), np.inf), "NaN/inf in orientations"),
    (lambda c: setattr(c, "frame_id", "world"), "frame 'world'"),
    (lambda c: setattr(c, "gripper", c.gripper[:-1]), "length mismatch"),
    (lambda c: setattr(c, "dt", 0.0), "non-monotonic pose times"),
    (lambda c: setattr(c, "stamp", c.stamp - 5.0), "5000 ms old"),
    (lambda c: c.quaternions.__setitem__(0, [0.0, 0.0, 0.0, 2.0]), "non-unit quaternion"),
    (lambda c: setattr(c, "stamp", c.stamp + 3.0), "ahead of this node's clock"),
])
def test_bad_chunks_are_rejected_with_a_reason(loop, mutate, reason):
    loop.run(0.02)
    chunk = path_chunk(loop, loop.now)
    mutate(chunk)
    ok, why = loop.c.submit_chunk(chunk, loop.now)
    assert not ok and reason in why, why
    assert loop.c.chunks_rejected == 1 and loop.c.status().message == why
    loop.run(0.05)
    assert loop.c.mode == Mode.IDLE


def test_out_of_order_chunk_is_rejected(loop):
    loop.run(0.1)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now - 0.02), loop.now)[0]
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.05), loop.now)
    assert not ok and "non-monotonic stamps" in why


def test_stop_halts_smoothly_within_half_a_second(loop, robot):
    loop.run(0.02)
    far = loop.home_pose.translation + np.array([0.0, 0.35, -0.1])
    assert loop.c.submit_chunk(make_chunk(loop.now, [far] * 10, loop.quat, dt=0.1), loop.now)[0]
    loop.run(0.5)
    speed_before = np.abs(loop.log[-1]["qd"]).max()
    assert speed_before > 0.2
    t_stop = loop.now
    loop.c.stop(loop.now)
    loop.run(0.6)
    t = loop.array("t")
    qd = loop.array("qd")
    at_rest = t[(t > t_stop) & (np.abs(qd).max(axis=1) == 0.0)]
    print(f"stop: {speed_before:.2f} rad/s -> rest after {at_rest[0] - t_stop:.3f} s")
    assert at_rest[0] - t_stop <= 0.5
    after = qd[t > t_stop]
    assert np.all(np.abs(after[-1]) < 1e-9) and loop.c.mode == Mode.STOPPED
    # smooth: no velocity step larger than the halt ramp allows
    assert np.abs(np.diff(qd[t > t_stop - 0.05], axis=0)).max() <= speed_before * loop.c.cfg.period / 0.05
    # the stop sticks: a fresh chunk (a policy still inferring) is refused until resume()
    loop.run(0.3)
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.01, seq=7), loop.now)
    assert not ok and "stopped" in why
    assert np.abs(loop.array("qd")[-60:]).max() < 1e-9
    t_resume = loop.now
    assert loop.c.resume(t_resume, "new instruction") == (True, "resumed")
    assert loop.c.mode == Mode.HOLDING
    # chunks computed from observations before the resume are not executed; a new stream may
    # start its sequence again
    ok, why = loop.c.submit_chunk(path_chunk(loop, t_resume - 0.01), loop.now)
    assert not ok and "before the last new instruction" in why
    loop.run(0.02)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now, seq=0), loop.now)[0]


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.75, 0.999])
def test_halt_ramp_starts_from_the_last_command_not_the_call(loop, robot, phase):
    """/gr2/stop arrives anywhere between two cycles: the first halt step still brakes within
    the acceleration limit (the ramp is timed from the last command's time)."""
    loop.run(0.02)
    far = loop.home_pose.translation + np.array([0.0, 0.35, -0.1])
    assert loop.c.submit_chunk(make_chunk(loop.now, [far] * 10, loop.quat, dt=0.1), loop.now)[0]
    loop.run(0.4)
    period = loop.c.cfg.period
    loop.c.stop(loop.now - period + phase * period)   # the service call, between two cycles
    loop.run(0.5)
    qd = loop.array("qd")
    accel = np.abs(np.diff(qd, axis=0)) / period
    assert (accel / robot.acceleration_limit).max() <= 1.0 + 1e-6


def test_a_sequence_going_backwards_is_refused_within_a_stream(loop):
    loop.run(0.1)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now - 0.02, seq=30), loop.now)[0]
    loop.run(0.1)
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.02, seq=2), loop.now)
    assert not ok and "sequence went backwards" in why
    assert loop.c.submit_chunk(path_chunk(loop, loop.now - 0.01, seq=31), loop.now)[0]
    # a restarted publisher (the last stream stale) may start again
    loop.run(loop.c.cfg.chunk_timeout + 0.1)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now - 0.01, seq=0), loop.now)[0]


def test_stale_chunks_decelerate_and_hold(loop):
    loop.run(0.02)
    # a long chunk whose stamp then goes stale (policy stopped publishing) while moving
    chunk = path_chunk(loop, loop.now, k=40, speed=0.2)
    assert loop.c.submit_chunk(chunk, loop.now)[0]
    loop.run(loop.c.cfg.chunk_timeout + 0.1)
    assert loop.c.mode == Mode.HOLDING and "stale" in loop.c.message
    loop.run(0.6)
    robot = loop.c.robot
    robot.update(loop.log[-1]["q"])
    assert np.linalg.norm(robot.tcp_jacobian()[:3] @ loop.log[-1]["qd"]) < 1e-4
    assert loop.c.cycles_without_reference > 0


def test_stale_joint_states_hold_and_report_then_recover(loop):
    loop.run(0.02)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now, k=20), loop.now)[0]
    loop.run(0.3)
    loop.run(0.6, measure=False)     # the arm driver stops publishing
    assert loop.c.mode == Mode.FAULT and "stale" in loop.c.message
    np.testing.assert_allclose(loop.log[-1]["qd"], 0.0)
    # after the halt, nothing is commanded (a restarted driver must not get the old target)
    assert loop.c.step(loop.now) is None
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now), loop.now)
    assert not ok and "fault" in why
    loop.run(0.05)                   # measurements back
    assert loop.c.mode == Mode.STOPPED and "recovered" in loop.c.message
    # a fault never clears into motion by itself: the policy's next chunk is refused
    loop.run(0.2)
    ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.01, seq=5), loop.now)
    assert not ok and "stopped" in why
    assert np.abs(loop.array("qd")[-40:]).max() < 1e-9
    assert loop.c.resume(loop.now)[0]
    loop.run(0.02)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now, seq=0), loop.now)[0]


def test_gripper_command_is_emitted_when_the_reference_reaches_it(loop):
    loop.run(0.02)
    t0 = loop.now
    chunk = path_chunk(loop, t0, gripper=[0.0] * 5 + [1.0] * 5)
    assert loop.c.submit_chunk(chunk, loop.now)[0]
    loop.run(1.2)
    events = [(e["t"], e["gripper"]) for e in loop.log if e["gripper"] is not None]
    assert [g for _, g in events] == [0.0, 1.0]
    close_time = events[1][0] - loop.c.cfg.period      # the cycle that emitted it started here
    assert close_time == pytest.approx(t0 + 0.6, abs=loop.c.cfg.period + 1e-9)


def test_a_chunk_through_the_table_keeps_the_collision_margin(make_loop):
    """Every body keeps collision_margin from the table, the gripper gripper_environment_margin
    (its pads must reach objects lying there); the gripper is what gets closest."""
    loop = make_loop(chunk_timeout=3.0)   # one long chunk, no follow-up: must not go stale
    loop.run(0.02)
    tracking = loop.c.cfg.tracking
    p0 = loop.home_pose.translation
    # straight down through the table top (z = 0) to 10 cm below it
    pos = [p0 + np.array([0.0, 0.0, -(p0[2] + 0.1) * i / 10]) for i in range(1, 11)]
    assert loop.c.submit_chunk(make_chunk(loop.now, pos, loop.quat, dt=0.08), loop.now)[0]
    loop.run(2.5)
    robot = loop.c.robot
    worst_gripper = worst_arm = np.inf
    for q in loop.array("q"):
        robot.update(q)
        d = robot.proximities(np.inf)
        for k, (dist, pair) in enumerate(zip(d.distances, robot.pairs, strict=False)):
            if not pair.name.endswith("|table"):
                continue
            if robot.is_gripper_environment_pair(k):
                worst_gripper = min(worst_gripper, dist)
            else:
                worst_arm = min(worst_arm, dist)
    print(f"closest approach to the table: gripper {worst_gripper * 1e3:.2f} mm (margin "
          f"{tracking.collision.gripper_environment_margin * 1e3:.0f} mm), arm links {worst_arm * 1e3:.2f} mm "
          f"(margin {tracking.collision.margin * 1e3:.0f} mm)")
    assert worst_gripper >= tracking.collision.gripper_environment_margin - 1e-3
    assert worst_arm >= tracking.collision.margin - 1e-3
    assert worst_gripper < tracking.collision.gripper_environment_margin + 0.01   # it did go down to the margin


def chunk_sequence_peak_acceleration(loop: Loop, switches: int = 6) -> tuple[float, float]:
    """Peak joint acceleration within 50 ms of each chunk switch, over a sequence of chunks
    that disagree with each other by up to 1.5 cm (as successive policy predictions do)."""
    rng = np.random.default_rng(7)
    loop.run(0.02)
    switch_times = []
    for i in range(switches):
        offset = rng.uniform(-0.015, 0.015, size=3)
        ok, why = loop.c.submit_chunk(path_chunk(loop, loop.now - 0.03, offset=offset, seq=i), loop.now)
        assert ok, why
        switch_times.append(loop.now)
        loop.run(0.3)
    t, qd = loop.array("t")[1:], loop.array("qd")
    acc = np.abs(np.diff(qd, axis=0)) / loop.c.cfg.period
    near = np.zeros(len(t), dtype=bool)
    for ts in switch_times[1:]:
        near |= (t >= ts) & (t <= ts + 0.05)
    return float(acc[near].max()), float(acc.max())


def test_optimiser_reduces_peak_joint_acceleration_at_chunk_switches(make_loop):
    optimised, _ = chunk_sequence_peak_acceleration(make_loop())
    naive, _ = chunk_sequence_peak_acceleration(make_loop(naive_switching=True))
    ratio = optimised / naive
    print(f"peak joint acceleration at chunk switches: optimiser {optimised:.3f} rad/s^2, "
          f"naive {naive:.3f} rad/s^2, ratio {ratio:.3f}")
    # naive switching saturates the QP's joint acceleration limit (which caps the ratio from below)
    assert ratio < 0.8


def test_pick_and_place_chunks_are_tracked_within_5_mm_rms(loop):
    """Chunk sequence along a down-across-up path at 0.2 m/s, a new 1 s chunk every 0.3 s,
    each stamped 30 ms in the past (inference latency); RMS of TCP vs the path itself."""
    from test_wbc_node import pick_place_path

    loop.run(0.05)
    path, total = pick_place_path(loop.home_pose.translation, 0.2)
    t0 = loop.now + 0.1
    errors = []

    def feed(lp: Loop):
        if int(round(lp.now / lp.c.cfg.period)) % 60 == 0:
            stamp = lp.now - 0.03
            chunk = make_chunk(stamp, [path(stamp + 0.1 * i - t0) for i in range(1, 11)], lp.quat, dt=0.1,
                               seq=int(round(lp.now / lp.c.cfg.period)))
            assert lp.c.submit_chunk(chunk, lp.now)[0]
        if t0 + 0.5 < lp.now < t0 + total:
            errors.append(np.linalg.norm(lp.c.robot.forward(lp.q).translation - path(lp.now - t0)))

    loop.run(total + 0.5, on_cycle=feed)
    rms = float(np.sqrt(np.mean(np.square(errors))))
    print(f"pick-and-place at 0.2 m/s, ideal arm: RMS TCP error {rms * 1e3:.2f} mm, max {max(errors) * 1e3:.1f} mm")
    assert rms < 0.005


# From a `make demo` run with an untrained policy (joint commands in its bag): the arm swinging
# down at joint 2's velocity limit, its elbow link (half_arm_2) heading for the table; and where
# it ended up, 2.4 mm inside the table. The QP was infeasible from there on (its collision row
# asked for more than the acceleration box allows), the fallback decelerated without looking at
# collisions, and at rest inside the margin every later QP was infeasible too: the arm stayed.
FAST_TOWARDS_TABLE_Q = [1.385, 1.8318, 1.6202, -2.2353, -1.735, -0.4183, 4.2877]
FAST_TOWARDS_TABLE_QD = [-0.4667, 1.3963, -0.0272, 0.2327, 1.2218, -0.4247, -0.7991]
INSIDE_THE_TABLE_Q = [1.3071, 2.1489, 1.6074, -2.2046, -1.5287, -0.4666, 4.1957]


def run_tracking_qp(robot, tracking, q, qd, target, seconds: float) -> np.ndarray:
    """The tracking QP alone on an ideal arm: minimum collision distance after each cycle."""
    qp = TrackingQP(robot, tracking)
    q, qd = np.array(q, dtype=float), np.array(qd, dtype=float)
    distances = []
    for _ in range(int(seconds / tracking.dt)):
        qd = qp.solve(q, qd, target, np.zeros(6)).qd
        q = q + qd * tracking.dt
        robot.update(q)
        distances.append(robot.proximities(np.inf).min_distance)
    return np.array(distances)


def test_arm_heading_fast_for_the_table_brakes_before_the_margin(robot, wbc_config):
    tracking = wbc_config.tracking
    target = robot.forward(np.array(FAST_TOWARDS_TABLE_Q))
    target.translation = target.translation - np.array([0.0, 0.0, 0.3])   # and the task pulls down
    d = run_tracking_qp(robot, tracking, FAST_TOWARDS_TABLE_Q, FAST_TOWARDS_TABLE_QD, target, 2.0)
    print(f"closest approach {d.min() * 1e3:.2f} mm (margin {tracking.collision.margin * 1e3:.0f} mm)")
    assert d.min() >= tracking.collision.margin - 2e-3


def test_arm_inside_the_margin_is_driven_out(robot, wbc_config):
    tracking = wbc_config.tracking
    robot.update(np.array(INSIDE_THE_TABLE_Q))
    assert robot.proximities(np.inf).min_distance < 0
    hold = robot.forward(np.array(INSIDE_THE_TABLE_Q))
    d = run_tracking_qp(robot, tracking, INSIDE_THE_TABLE_Q, np.zeros(7), hold, 1.0)
    print(f"distance after 0.1 s {d[19] * 1e3:.2f} mm, after 1 s {d[-1] * 1e3:.2f} mm")
    assert d[-1] >= tracking.collision.margin - 1e-3


def test_a_halt_towards_a_joint_limit_stops_at_the_limit(loop, robot):
    """A halt ramps the joint velocities down over a fixed time; a joint heading for its limit
    must still stop at the limit, since the arm's driver refuses any command beyond it."""
    loop.run(0.05)
    lower = robot.lower[3]
    loop.c.q[3], loop.c.qd[3] = lower + 0.05, -1.2   # 0.05 rad from its limit, at 1.2 rad/s towards it
    loop.q = loop.c.q.copy()                          # the ideal arm is there too
    loop.c.update_measurement(loop.now, loop.q)
    loop.c.stop(loop.now)
    loop.run(0.6)
    q = loop.array("q")
    assert np.all(q >= robot.lower - 1e-12) and np.all(q <= robot.upper + 1e-12)
    assert q[-1, 3] == pytest.approx(lower, abs=1e-9)   # it did run into the limit, and stopped there


def test_a_driver_restarted_elsewhere_gets_no_stale_target_and_no_step(loop, robot):
    """The arm's driver dies while moving and comes back in another configuration (a restarted
    sim at its home pose): nothing is commanded while faulted, the first command after the
    recovery is the measured configuration at rest, and no chunk moves the arm until resumed."""
    loop.run(0.02)
    far = loop.home_pose.translation + np.array([0.0, 0.35, -0.1])
    assert loop.c.submit_chunk(make_chunk(loop.now, [far] * 10, loop.quat, dt=0.1, seq=1), loop.now)[0]
    loop.run(0.4)
    loop.run(0.7, measure=False)                      # driver gone
    assert loop.c.mode == Mode.FAULT and loop.c.step(loop.now) is None
    n = len(loop.log)
    restarted = loop.q.copy()
    restarted[0] += 1.0                              # 1 rad away from the last command
    loop.q = restarted
    loop.c.update_measurement(loop.now, restarted)
    loop.run(0.3)
    first = loop.log[n]
    np.testing.assert_allclose(first["q"], robot.clamp_to_limits(restarted), atol=1e-6)
    assert np.abs(first["qd"]).max() < 1e-5 and loop.c.mode == Mode.STOPPED
    q = loop.array("q")[n:]
    assert np.abs(np.diff(q, axis=0)).max() < 1e-6  # stands still: no step, no motion
    ok, why = loop.c.submit_chunk(make_chunk(loop.now - 0.01, [far] * 10, loop.quat, dt=0.1, seq=2), loop.now)
    assert not ok and "stopped" in why


def test_late_joint_states_are_not_a_fault_and_a_stopped_driver_is(loop):
    """A delivery stall (no message for 0.3 s, then a burst whose driver stamps went on without a
    gap) keeps tracking, without resynchronising to the old measurements; silence beyond
    joint_state_fault_timeout is a FAULT."""
    loop.run(0.02)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now, k=30, seq=1), loop.now)[0]
    loop.run(0.3)
    loop.c.update_measurement(loop.now, loop.q, stamp=loop.now)   # the driver stamps its messages
    t_silent = loop.now
    stamps = []
    for _ in range(60):                          # 0.3 s: the driver measures, nothing arrives
        stamps.append((loop.now, loop.q.copy()))
        loop.run(0.005, measure=False)
    assert loop.c.mode == Mode.TRACKING
    notes = [loop.c.update_measurement(loop.now, q, stamp=t)[1] for t, q in stamps]   # the burst
    assert "delivery stall" in notes[0] and not any(notes[1:])
    loop.run(0.3)
    assert loop.c.mode == Mode.TRACKING and loop.c.faults == 0 and loop.c.delivery_stalls == 1
    qd = loop.array("qd")[loop.array("t") > t_silent]
    assert np.abs(np.diff(qd, axis=0)).max() / loop.c.cfg.period <= loop.c.robot.acceleration_limit.max() + 1e-6
    loop.run(loop.c.cfg.joint_state_fault_timeout + 0.05, measure=False)
    assert loop.c.mode == Mode.FAULT


@pytest.mark.parametrize("stamp, why", [(lambda now, last: now + 2.0, "ahead of this node's clock"),
                                        (lambda now, last: now - 0.6, "ms old"),
                                        (lambda now, last: last - 0.01, "before the previous one")])
def test_joint_states_stamped_in_the_future_too_old_or_out_of_order_are_ignored(loop, stamp, why):
    """gr2_contract.stamp_problem's rule for joint states too (issue example: inputs stamped 2 s
    ahead never went stale): an ignored measurement neither moves the measured state nor keeps
    the stream alive, so a driver that only sends such messages ends in FAULT."""
    loop.run(0.02)
    assert loop.c.update_measurement(loop.now, loop.q, stamp=loop.now) == (True, None)
    q_before = loop.c._q_meas.copy()
    t_last = loop.now
    notes = []
    for _ in range(120):                                     # 0.6 s of such messages
        loop.run(0.005, measure=False)
        used, note = loop.c.update_measurement(loop.now, loop.q + 0.1, stamp=stamp(loop.now, t_last))
        assert not used and note.startswith("ignored: ")
        notes.append(note)
    assert why in notes[0]
    assert np.array_equal(loop.c._q_meas, q_before)
    assert loop.c.joint_states_refused == 120 and loop.c.mode == Mode.FAULT


def test_braking_into_a_position_limit_keeps_the_acceleration_limit(loop, robot):
    """Issue example: 1 s chunks asking for an orientation that needs joint_6 beyond its limit
    (-2.6 rad, limit -2.09): every command of every cycle within the velocity, acceleration and
    position limits, also the last braking steps into the limit (1.75x the acceleration limit
    with the continuous-time stopping bound)."""
    import pinocchio as pin
    loop.run(0.02)
    pose = robot.forward(np.where(np.arange(7) == 5, -2.6, loop.q))
    quat = pin.Quaternion(pose.rotation).coeffs()            # x, y, z, w
    seq = 0
    for _ in range(6):
        seq += 1
        assert loop.c.submit_chunk(make_chunk(loop.now, [pose.translation] * 10, quat, dt=0.1, seq=seq), loop.now)[0]
        loop.run(0.5)
    q, qd = loop.array("q"), loop.array("qd")
    period = loop.c.cfg.period
    acc = np.abs(np.diff(qd, axis=0)) / period / robot.acceleration_limit
    print(f"joint_6 ends at {q[-1, 5]:.4f} rad (limit {robot.lower[5]:.4f}); peak acceleration ratio {acc.max():.3f}")
    assert q[:, 5].min() >= robot.lower[5] - 1e-9
    assert q[-1, 5] < robot.lower[5] + 0.05            # it did brake into the limit
    assert acc.max() <= 1.0 + 1e-3
    assert (np.abs(qd) / robot.velocity_limit).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("case", range(8))
def test_every_command_of_every_cycle_is_within_every_limit(make_loop, robot, case):
    """Property over random start configurations (some next to a position limit), random chunk
    targets, chunk switches and a stop at a random time: position, velocity and acceleration of
    every commanded cycle within the limits (discrete time, the solver's tolerance)."""
    import pinocchio as pin
    rng = np.random.default_rng(1000 + case)
    lo, hi = np.maximum(robot.lower, -2 * np.pi), np.minimum(robot.upper, 2 * np.pi)
    q0 = lo + rng.uniform(0.05, 0.95, 7) * (hi - lo)
    j = rng.integers(7)
    if np.isfinite(robot.lower[j]):
        q0[j] = robot.lower[j] + rng.uniform(0.01, 0.1)       # start next to a limit
    loop = make_loop()
    loop.q = q0.copy()
    loop.c.update_measurement(loop.now, loop.q)
    loop.run(0.02)
    t_stop = rng.uniform(0.5, 1.4)
    for seq in range(1, 6):
        target = robot.forward(lo + rng.uniform(0.0, 1.0, 7) * (hi - lo))
        quat = pin.Quaternion(target.rotation).coeffs()
        loop.c.submit_chunk(make_chunk(loop.now - 0.02, [target.translation] * 10, quat, dt=0.1, seq=seq), loop.now)
        loop.run(0.3)
        if loop.now > t_stop and loop.c.mode != Mode.STOPPED:
            loop.c.stop(loop.now)
    q, qd = loop.array("q"), loop.array("qd")
    period = loop.c.cfg.period
    assert (q >= robot.lower - 1e-9).all() and (q <= robot.upper + 1e-9).all()
    assert (np.abs(qd) <= robot.velocity_limit * (1 + 1e-6)).all()
    acc = np.abs(np.diff(qd, axis=0)) / period / robot.acceleration_limit
    # the QP holds the acceleration box to OSQP's tolerance (eps 1e-6 on the scaled problem)
    assert acc.max() <= 1.0 + 5e-3, f"acceleration ratio {acc.max():.4f}"


@pytest.mark.parametrize("stopped", [False, True])
def test_a_resume_after_a_simulator_reset_holds_the_arm_where_it_is_and_resends_the_gripper(loop, robot, stopped):
    """The arm ends a task at rest 0.1 rad from home with the gripper closed (below the resync
    threshold, so the controller would hold it there), the simulator is reset (arm at home,
    gripper open), and a new instruction resumes: from then on the controller commands the
    measured home at rest, and the next chunk's 'close' goes out although it repeats the last one."""
    loop.run(0.02)
    ahead = loop.home_pose.translation + np.array([0.0, 0.03, 0.0])
    chunk = make_chunk(loop.now, [ahead] * 10, loop.quat, gripper=[1.0] * 10, dt=0.05, seq=0)
    assert loop.c.submit_chunk(chunk, loop.now)[0]
    loop.run(1.5)
    assert loop.c.mode == Mode.HOLDING and np.abs(loop.log[-1]["qd"]).max() < loop.c.cfg.rest_speed
    home = np.array(robot.description.home)
    assert 0.01 < np.abs(loop.q - home).max() < loop.c.cfg.resync_threshold
    if stopped:
        loop.c.stop(loop.now)
        loop.run(0.6)
    loop.q = home.copy()                              # the reset
    loop.c.update_measurement(loop.now, home)
    assert loop.c.resume(loop.now, "new instruction")[0]
    n = len(loop.log)
    loop.run(0.2)
    q = loop.array("q")[n:]   # (the hold's secondary tasks may move the redundant joint by mrad)
    np.testing.assert_allclose(q, np.tile(robot.clamp_to_limits(home), (len(q), 1)), atol=2e-3)
    again = make_chunk(loop.now, [loop.home_pose.translation] * 10, loop.quat, gripper=[1.0] * 10, dt=0.05, seq=0)
    assert loop.c.submit_chunk(again, loop.now)[0]
    loop.run(0.3)
    assert [e["gripper"] for e in loop.log[n:] if e["gripper"] is not None] == [1.0]


def test_a_new_instruction_while_moving_does_not_restart_from_the_measurement(loop):
    loop.run(0.02)
    assert loop.c.submit_chunk(path_chunk(loop, loop.now), loop.now)[0]
    loop.run(0.3)
    assert loop.c.mode == Mode.TRACKING
    q_before = loop.q.copy()
    loop.c.update_measurement(loop.now, q_before + 0.05)   # the arm lags its command
    assert loop.c.resume(loop.now, "new instruction") == (True, "new chunk stream")
    loop.run(0.01)
    assert np.abs(loop.q - q_before).max() < 0.01            # continues from the command
