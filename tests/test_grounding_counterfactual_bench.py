"""bench/grounding_counterfactual.py: which seeds it replays, the colours it paints, its summary."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(ROOT / "bench"))

from grounding_counterfactual import edit, failed_seeds, far_colour, summarise  # noqa: E402


def _run(sha, delay, episodes, evaluator="in_process"):
    return {"evaluator": evaluator, "checkpoint": {"sha256": sha},
            "settings": {"delay_s": delay, "switch_lead_s": 0.05}, "episodes": episodes}


def _ep(seed, lifted, setting="distractor"):
    return {"task": "pick_cube", "setting": setting, "seed": seed, "extra": {"lifted_objects": lifted}}


def test_failed_seeds_are_the_wrong_lifts_grouped_by_modelled_delay(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"runs": [
        _run("s1", 0.05, [_ep(1, ["obj1"]), _ep(2, ["obj0"]), _ep(3, []), _ep(4, ["obj0", "distractor2"]),
                          _ep(5, ["obj1"], setting="simple")]),
        _run("s1", None, [_ep(6, ["obj1"])], evaluator="node_graph"),     # no modelled delay: skipped
        _run("s2", 0.05, [_ep(7, ["obj1"])])]}))
    b.write_text(json.dumps({"runs": [_run("s1", 0.06, [_ep(8, ["distractor0"])])]}))
    groups, sha = failed_seeds([f"{a}@s1", f"{b}@s1"])
    assert sha == "s1"
    assert groups == {(0.05, 0.05): {1: "obj1", 4: "distractor2"}, (0.06, 0.05): {8: "distractor0"}}
    with pytest.raises(ValueError, match="2 checkpoints"):
        failed_seeds([str(a)])
    with pytest.raises(ValueError, match="no in-process run"):
        failed_seeds([f"{a}@nope"])


def test_far_colour_is_no_neighbouring_hue_and_prefers_one_not_in_the_scene():
    from gr2_drivers.sim.tasks import NEIGHBOUR_HUES
    for target in ("red", "orange", "yellow", "blue", "purple", "green"):
        c = far_colour(target, [target])
        assert c != target and frozenset({target, c}) not in NEIGHBOUR_HUES
    assert far_colour("yellow", ["yellow", "green", "orange"]) == "blue"


def test_edits_paint_the_two_objects_in_the_rendered_scene():
    from gr2_drivers.sim.tasks import COLORS, NEIGHBOUR_HUES, object_colours
    from gr2_drivers.sim.world import World, load_sim_config
    world = World(load_sim_config())
    world.reset("pick_cube", "distractor", 100003)
    before = object_colours(world.task)
    rgb = lambda body: world.model.geom_rgba[world.model.body_geomadr[world.model.body(body).id], :3]  # noqa: E731
    swap = edit("swapped", "distractor2")
    assert swap(world, "pick up the x cube") == "pick up the x cube"
    assert swap.colours == {"obj0": before["distractor2"], "distractor2": before["obj0"]}
    assert np.allclose(rgb("obj0"), COLORS[before["distractor2"]])
    assert np.allclose(rgb("distractor2"), COLORS[before["obj0"]])
    world.reset("pick_cube", "distractor", 100003)     # a reset lays the scene out afresh
    assert np.allclose(rgb("obj0"), COLORS[before["obj0"]])
    recolour = edit("recoloured", "distractor2")
    recolour(world, "")
    new = recolour.colours["distractor2"]
    assert frozenset({before["obj0"], new}) not in NEIGHBOUR_HUES and new != before["obj0"]
    assert np.allclose(rgb("distractor2"), COLORS[new]) and np.allclose(rgb("obj0"), COLORS[before["obj0"]])


def test_summary_counts_what_each_condition_lifted():
    rows = [{"condition": "original", "wrong_before": "obj1", "lifted_objects": ["obj1"]},
            {"condition": "recoloured", "wrong_before": "obj1", "lifted_objects": ["obj0"]},
            {"condition": "swapped", "wrong_before": "obj1", "lifted_objects": []}]
    for r in rows:
        r["lifted_target"], r["lifted_wrong_before"] = "obj0" in r["lifted_objects"], "obj1" in r["lifted_objects"]
    s = summarise(rows)
    assert s["original"] == {"episodes": 1, "lifted_target": 0, "lifted_wrong_before": 1, "lifted_other": 0,
                             "lifted_nothing": 0}
    assert s["recoloured"]["lifted_target"] == 1 and s["swapped"]["lifted_nothing"] == 1
