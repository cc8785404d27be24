"""The chunk optimiser in its child process gives the in-process optimiser's result, hands
rejections back with their reason, and a child that died is replaced (the chunk that found it
dead is rejected with the reason) instead of the node hanging or rejecting every later chunk."""

from __future__ import annotations

import numpy as np
import pytest

from gr2_wbc.optimiser_process import OptimiserProcess
from gr2_wbc.trajectory import ChunkRejected, ReferenceSample, TrajectoryOptimizer

from conftest import make_chunk


@pytest.fixture
def start(robot) -> ReferenceSample:
    pose = robot.forward(np.array(robot.description.home))
    return ReferenceSample(pose.translation.copy(), pose.rotation.copy(), np.array([0.05, 0.0, 0.0]), np.zeros(3))


def chunk_from(start: ReferenceSample, stamp: float = 0.0):
    positions = start.position + np.outer(np.arange(1, 11), [0.01, 0.005, -0.003])
    return make_chunk(stamp, positions, [1.0, 0.0, 0.0, 0.0], seq=3)


def test_same_reference_as_in_process(wbc_config, start):
    chunk = chunk_from(start)
    local = TrajectoryOptimizer(wbc_config.trajectory).optimize(chunk, 0.05, start)
    child = OptimiserProcess(wbc_config.trajectory)
    try:
        remote = child.optimize(chunk, 0.05, start)
    finally:
        child.close()
    assert remote.t0 == local.t0 and remote.end_time == local.end_time
    for name in ("p", "v", "a", "origin", "R0"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))


def test_rejections_and_a_dead_child_come_back_as_rejected_chunks(wbc_config, start):
    child = OptimiserProcess(wbc_config.trajectory)
    try:
        with pytest.raises(ChunkRejected, match="lies in the past"):
            child.optimize(chunk_from(start, stamp=-5.0), 0.0, start)
        first = child._process.pid
        child._process.kill()
        child._process.wait()
        # The chunk that finds the child dead is rejected with the reason; a new child takes the next.
        with pytest.raises(ChunkRejected, match="optimiser process was gone .* started a new one"):
            child.optimize(chunk_from(start), 0.05, start)
        assert child._process.pid != first and child.restarts == 1
        assert child.optimize(chunk_from(start), 0.05, start).end_time > 0.05
    finally:
        child.close()
    child.close()   # idempotent
    assert child._process.poll() is not None
    with pytest.raises(ChunkRejected, match="closed"):
        child.optimize(chunk_from(start), 0.05, start)
