"""gr2_bringup.dagger: a round restricted to part of the layout distribution (--layouts) rolls out
only in layouts the predicate accepts, in seed order, and says so in each episode's meta."""
from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")


def test_neighbour_hue_layouts_only(tmp_path):
    from gr2_bringup import dagger
    from gr2_drivers.sim.tasks import neighbour_hue_distractor
    from gr2_drivers.sim.world import World

    out = tmp_path / "round"
    assert dagger.main(["--checkpoint", "package://gr2_policy/checkpoints/pick_cube", "--task", "pick_cube",
                        "--settings", "distractor", "--episodes", "2", "--first-seed", "17000",
                        "--max-time", "0.3", "--layouts", "neighbour_hue", "--out", str(out)]) == 0
    metas = [json.loads((out / row["dir"] / "meta.json").read_text())
             for row in map(json.loads, (out / "index.jsonl").read_text().splitlines())]
    seeds = [m["seed"] for m in metas]
    world = World()
    candidates = []
    for seed in range(17000, seeds[-1] + 1):       # every accepted seed up to the last, none skipped
        world.reset("pick_cube", "distractor", seed)
        if neighbour_hue_distractor(world.task):
            candidates.append(seed)
    assert seeds == candidates and len(seeds) == 2
    assert all(m["layouts"] == "neighbour_hue" for m in metas)


def test_neighbour_hues():
    from types import SimpleNamespace

    from gr2_drivers.sim.tasks import LAYOUT_FILTERS, neighbour_hue_distractor
    assert neighbour_hue_distractor(SimpleNamespace(colors=["orange", "red"]))
    assert neighbour_hue_distractor(SimpleNamespace(colors=["purple", "green", "blue"]))
    assert not neighbour_hue_distractor(SimpleNamespace(colors=["green", "red"]))
    assert not neighbour_hue_distractor(SimpleNamespace())          # a task without coloured objects
    assert LAYOUT_FILTERS["all"](SimpleNamespace())
