"""The pre-training clip generator (`python -m gr2_bringup.video_clips`): real sim, real expert,
clips in unseen scene colours read back by the pre-training reader with both views."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gr2_bringup.video_clips import main
from gr2_drivers.sim.tasks import SEEN_TABLES, UNSEEN_TABLES
from gr2_policy.data import VideoClipReader


def test_clips_are_captioned_two_view_videos_in_unseen_scenes(tmp_path):
    out = tmp_path / "clips"
    assert main(["--out", str(out), "--tasks", "pick_cube", "press_button", "--settings", "distractor",
                 "--clips", "1", "--first-seed", "60000", "--size", "64"]) == 0
    stats = json.loads((out / "generation_stats.json").read_text())
    assert stats["clips"] == 2 and stats["scenes"] == "unseen" and (out / "contact_sheet.png").is_file()
    reader = VideoClipReader(out, 64, stride=1, views=("head_camera", "wrist_camera"))
    assert len(reader) == 2
    ep = reader[0]
    assert ep.instruction.startswith("pick up the") and set(ep.frames) == {"head_camera", "wrist_camera"}
    assert sum(reader[i].length for i in range(2)) == stats["frames"]      # every frame, both views
    # the table (bottom-left corner of the head view, away from the robot) is in none of the palettes
    corner = ep.frames["head_camera"][0, -6:, :6].reshape(-1, 3).mean(0) / 255.0
    palette = np.array(SEEN_TABLES + UNSEEN_TABLES)
    assert np.linalg.norm(palette - corner, axis=1).min() > 0.1


def test_seeds_of_the_evaluation_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "c"), "--tasks", "pick_cube", "--clips", "2", "--first-seed", "99999"])
