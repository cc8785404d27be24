"""`python -m gr2_bringup.sim_frames` writes the stack's one episode format (gr2_contract.episode),
which the policy's training commands read like any other dataset (SimDatasetReader)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gr2_bringup import sim_frames
from gr2_contract.episode import STREAMS, load_episode


def test_sim_frames_writes_episodes_the_policy_reads(tmp_path):
    from gr2_policy.data import SimDatasetReader, open_episodes
    out = tmp_path / "frames"
    assert sim_frames.main(["--out", str(out), "--episodes", "2", "--steps", "3", "--size", "32",
                            "--substeps", "5", "--settings", "simple,distractor"]) == 0
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["setting"] for r in rows] == ["simple", "distractor"] and all(r["frames"] == 3 for r in rows)
    meta, streams = load_episode(out / rows[0]["dir"], mmap=False)
    assert set(streams) == set(STREAMS) and meta["expert"] == sim_frames.EXPERT
    assert streams["head_rgb"].shape == (3, 32, 32, 3) and streams["head_rgb"].dtype == np.uint8
    assert meta["fps"] == pytest.approx(1.0 / (5 * 0.002))
    # frame t's action is the TCP pose its command reached at frame t + 1
    np.testing.assert_allclose(streams["action_ee_pose"][:-1], streams["ee_pose"][1:], atol=1e-6)

    reader = open_episodes(out, ("head_camera", "wrist_camera"), 32)
    assert isinstance(reader, SimDatasetReader) and len(reader) == 2
    episode = reader[1]
    assert episode.length == 3 and episode.instruction == sim_frames.INSTRUCTION
    assert episode.frames["wrist_camera"].shape == (3, 32, 32, 3)
    assert episode.dt == pytest.approx(0.01)

    with pytest.raises(SystemExit):   # a second run would append duplicate index rows
        sim_frames.main(["--out", str(out), "--episodes", "1"])
