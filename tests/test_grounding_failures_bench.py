"""bench/grounding_failures.py: candidates pooled per checkpoint, seeds grouped by how many failed
them, scenes described from the evaluator's layout (a run on two seeds)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
sys.path.insert(0, str(ROOT / "bench"))

from grounding_failures import load_candidates  # noqa: E402


def _eval_json(path: Path, runs: dict[str, dict[int, bool]]) -> None:
    """An evaluator JSON with one run per checkpoint sha: {sha: {seed: success}}."""
    path.write_text(json.dumps({"runs": [
        {"checkpoint": {"sha256": sha}, "episodes": [
            {"task": "pick_cube", "setting": setting, "seed": seed, "success": ok}
            for seed, ok in outcome.items() for setting in ("simple", "distractor")]}
        for sha, outcome in runs.items()]}))


def test_candidates_are_filtered_by_checkpoint_and_setting(tmp_path):
    _eval_json(tmp_path / "a.json", {"aaaa": {100000: True}, "bbbb": {100000: False}})
    _eval_json(tmp_path / "b.json", {"aaaa": {100001: False}})
    got = load_candidates([f"{tmp_path / 'a.json'}@aaaa", str(tmp_path / "b.json")])
    assert {sha: sorted(eps) for sha, eps in got.items()} == {"aaaa": [100000, 100001]}
    with pytest.raises(ValueError, match="cccc"):
        load_candidates([f"{tmp_path / 'a.json'}@cccc"])


def test_two_seeds_end_to_end(tmp_path):
    _eval_json(tmp_path / "e.json", {"aaaa": {100000: False, 100001: True}, "bbbb": {100000: False, 100001: False}})
    out = tmp_path / "g.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "grounding_failures.py"), "--runs",
                    str(tmp_path / "e.json"), "--out", str(out), "--image", str(tmp_path / "g.png")],
                   check=True, env=ENV, cwd=ROOT, timeout=300)
    r = json.loads(out.read_text())
    from PIL import Image
    with Image.open(tmp_path / "g.png") as image:    # one row: the one seed both candidates failed
        assert image.size == (4 * (4 * 64 + 6), 20 + 4 * 64 + 30)
    assert {g["failed_by"]: g["seeds"] for g in r["groups"]} == {1: 1, 2: 1}
    assert r["failed_by_all"] == [100000] and r["failed_by_all_expected_if_independent"] == pytest.approx(2 * 0.5 * 1.0)
    assert all(c["failures_with_neighbour_hue"] + c["failures_without"] == c["failures"]
               for c in r["candidates"].values())
    sim = r["instruction_similarity"]
    assert len(sim["colours"]) == 6 and sim["cosine"][0][0] == pytest.approx(1.0) and 0 < sim["min"] <= sim["max"] < 1
    assert set(r["by_neighbour_hue"]) == {"with_neighbour_hue", "without", "cube_only_with_neighbour_hue",
                                          "cube_only_without"}
    assert r["wrong_lifts"]["by_object"] == {"nothing": 3}    # the test JSON records no lifted objects
    for s in r["scenes"]:      # both cubes seen in both views at the start, in the workspace
        assert len(s["colours"]) == 2 and s["colours"][0] != s["colours"][1]
        assert len(s["object_colours"]) == 5 and s["object_colours"]["obj0"] == s["colours"][0]
        assert s["nearest_object_distance_m"] <= s["cube_distance_m"]
        assert s["neighbour_hue"] or not s["neighbour_hue_cube"]
        assert all(px > 1.0 for v in ("head_camera_px", "wrist_camera_px") for px in s[v])
        assert 0.3 < s["target_xy_m"][0] < 0.7 and s["cube_distance_m"] > 0.05


def test_wrong_lifts_are_counted_by_object_and_hue():
    from grounding_failures import wrong_lifts
    scene = {"seed": 1, "object_colours": {"obj0": "red", "obj1": "green", "distractor0": "orange",
                                           "distractor1": "blue", "distractor2": "yellow"}}

    def episode(ok, lifted):
        return {"success": ok, "extra": {"lifted_objects": lifted}}
    got = wrong_lifts({"a": {1: episode(False, ["distractor0"])}, "b": {1: episode(False, ["obj1"])},
                       "c": {1: episode(True, ["obj0"])}, "d": {1: episode(False, [])},
                       "e": {1: episode(False, ["obj0", "distractor2"])}}, [scene])
    assert got["by_object"] == {"distractor0": 1, "distractor2": 1, "nothing": 1, "obj1": 1}
    assert got["by_hue"] == {"neighbouring": 2, "other": 1}
    assert got["colour_pairs"] == {"red -> orange": 1, "red -> green": 1, "red -> yellow": 1}
