"""The policy node's safety and timing rules, without ROS: stale inputs never reach inference,
and asynchronous chunking starts the next inference early enough for a seamless handover."""

import math

import numpy as np
import pytest

from gr2_policy.runtime import ChunkClock, ObservationAssembler, RuntimeConfig

VIEWS = ("head", "wrist")


def frame(value: int = 0) -> np.ndarray:
    return np.full((48, 64, 3), value, dtype=np.uint8)


def filled(now: float, cfg: RuntimeConfig, head_age=0.0, wrist_age=0.0, state_age=0.0) -> ObservationAssembler:
    a = ObservationAssembler(VIEWS, 32, cfg)
    a.add_frame("head", now - head_age, frame(1))
    a.add_frame("wrist", now - wrist_age, frame(2))
    a.add_state(now - state_age, (0.4, 0.0, 0.3), (1.0, 0.0, 0.0, 0.0), False)
    return a


def test_fresh_inputs_make_an_observation_stamped_with_the_oldest_frame():
    cfg = RuntimeConfig()
    obs, reason = filled(10.0, cfg, head_age=0.03, wrist_age=0.01).assemble(10.0)
    assert reason == "" and obs is not None
    assert obs.stamp == pytest.approx(9.97)
    assert obs.images["head"].shape == (32, 32, 3)      # centre-cropped and resized


@pytest.mark.parametrize("ages, expected", [
    (dict(head_age=0.3), "head 300 ms old"),
    (dict(state_age=0.26), "robot_state 260 ms old"),
    (dict(head_age=0.0, wrist_age=0.15), "apart"),
])
def test_stale_or_skewed_inputs_give_no_observation_and_say_why(ages, expected):
    obs, reason = filled(10.0, RuntimeConfig(), **ages).assemble(10.0)
    assert obs is None and expected in reason


def test_future_stamped_inputs_are_refused_and_a_stopped_stream_is_stale_whatever_its_stamps():
    """Frames stamped 2 s ahead of the node's clock, then the camera freezes: never assembled."""
    cfg = RuntimeConfig()
    a = ObservationAssembler(VIEWS, 32, cfg)
    a.add_frame("head", 12.0, frame(1), received=10.0)
    a.add_frame("wrist", 12.0, frame(2), received=10.0)
    a.add_state(10.0, (0.4, 0.0, 0.3), (1.0, 0.0, 0.0, 0.0), False, received=10.0)
    obs, reason = a.assemble(10.0)
    assert obs is None and "ahead of this node's clock" in reason
    for now in (10.5, 11.0, 12.0, 12.2):          # frozen: nothing new arrives
        a.add_state(now, (0.4, 0.0, 0.3), (1.0, 0.0, 0.0, 0.0), False, received=now)
        obs, reason = a.assemble(now)
        assert obs is None and ("stream stopped" in reason or "ahead" in reason), (now, reason)


def test_inputs_going_back_in_time_are_refused():
    a = ObservationAssembler(VIEWS, 32, RuntimeConfig())
    assert a.add_frame("head", 10.0, frame(1), received=10.0) is None
    assert "before the previous one" in a.add_frame("head", 9.5, frame(2), received=10.01)
    assert a.frames["head"].stamp == 10.0
    assert a.add_state(10.0, (0.4, 0.0, 0.3), (1.0, 0.0, 0.0, 0.0), False) is None
    assert "before the previous one" in a.add_state(9.0, (0.4, 0.0, 0.3), (1.0, 0.0, 0.0, 0.0), False)


@pytest.mark.parametrize("stamp, received, expected", [
    (10.0, 10.0, None), (10.04, 10.0, None), (10.2, 10.0, "ahead"), (9.7, 9.9, "300 ms old"),
    (10.0, 9.7, "stream stopped"),
])
def test_one_stamp_rule(stamp, received, expected):
    from gr2_contract import stamp_problem
    problem = stamp_problem("x", stamp, 10.0, max_age=0.25, future_tolerance=0.05, received=received)
    assert problem is None if expected is None else expected in problem


def test_missing_inputs_are_named():
    a = ObservationAssembler(VIEWS, 32, RuntimeConfig())
    a.add_frame("head", 1.0, frame())
    assert a.assemble(1.0) == (None, "no frame yet from wrist")
    with pytest.raises(KeyError):
        a.add_frame("side", 1.0, frame())


def test_next_inference_starts_so_the_chunk_takes_over_after_n_action_steps():
    cfg = RuntimeConfig(n_action_steps=4, max_rate_hz=100.0, handover_time=0.1)
    clock = ChunkClock(cfg, dt=0.1, chunk_len=10)
    assert clock.due(0.0)                      # nothing executing: start at once
    clock.started(0.0)
    clock.finished(obs_stamp=-0.05, published=0.25)      # 0.3 s from observation to publication
    # next chunk must take over at -0.05 + 0.4 = 0.35: start 0.3 + 0.1 earlier
    assert clock.next_start() == pytest.approx(-0.05)
    assert clock.due(0.26)
    assert not clock.runs_dry()
    clock.finished(obs_stamp=1.0, published=2.5)         # delay EMA 0.3 * 1.5 + 0.7 * 0.3 = 0.66
    assert clock.delay == pytest.approx(0.66)
    clock.finished(obs_stamp=3.0, published=5.0)         # 0.3 * 2.0 + 0.7 * 0.66 = 1.062 > 1.0 s span
    assert clock.runs_dry()


def test_rate_cap_and_reset():
    clock = ChunkClock(RuntimeConfig(max_rate_hz=2.0), dt=0.1, chunk_len=10)
    clock.started(5.0)
    assert not clock.due(5.4)                  # 0.5 s between starts at most 2 Hz
    assert clock.due(5.5)
    clock.finished(5.0, 5.2)
    clock.reset()
    assert clock.next_start() == -math.inf


def test_n_action_steps_must_fit_the_chunk():
    with pytest.raises(ValueError, match="n_action_steps 11"):
        ChunkClock(RuntimeConfig(n_action_steps=11), dt=0.1, chunk_len=10)


@pytest.mark.parametrize("seconds, fields", [
    (12.9999999996, (13, 0)), (12.9999999994, (12, 999_999_999)), (1.5, (1, 500_000_000)), (0.0, (0, 0)),
    (1796023848.5, (1796023848, 500_000_000)),
])
def test_one_seconds_to_stamp_rule_never_steps_back_a_second(seconds, fields):
    from gr2_contract import stamp_fields
    assert stamp_fields(seconds) == fields
    sec, nanosec = stamp_fields(seconds)
    assert 0 <= nanosec < 1_000_000_000 and abs(sec + nanosec * 1e-9 - seconds) < 1e-6
