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


def test_missing_inputs_are_named():
    a = ObservationAssembler(VIEWS, 32, RuntimeConfig())
    a.add_frame("head", 1.0, frame())
    assert a.assemble(1.0) == (None, "no frame yet from wrist")
    with pytest.raises(KeyError):
        a.add_frame("side", 1.0, frame())


def test_next_inference_starts_so_the_chunk_takes_over_after_the_execution_horizon():
    cfg = RuntimeConfig(execution_horizon=4, max_rate_hz=100.0, handover_time=0.1)
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


def test_execution_horizon_must_fit_the_chunk():
    with pytest.raises(ValueError, match="execution_horizon 11"):
        ChunkClock(RuntimeConfig(execution_horizon=11), dt=0.1, chunk_len=10)
