"""gr2_bringup.dagger: a round restricted to part of the layout distribution (--layouts) rolls out
only in layouts the predicate accepts, in seed order, and says so in each episode's meta."""
from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")


def test_neighbour_hue_layouts_only(tmp_path):
    from gr2_bringup import dagger
    from gr2_drivers.sim.tasks import neighbour_hue_any
    from gr2_drivers.sim.world import World

    out = tmp_path / "round"
    assert dagger.main(["--checkpoint", "package://gr2_policy/checkpoints/pick_cube", "--task", "pick_cube",
                        "--settings", "distractor", "--episodes", "2", "--first-seed", "17000",
                        "--max-time", "0.3", "--layouts", "neighbour_hue_any", "--out", str(out)]) == 0
    metas = [json.loads((out / row["dir"] / "meta.json").read_text())
             for row in map(json.loads, (out / "index.jsonl").read_text().splitlines())]
    seeds = [m["seed"] for m in metas]
    world = World()
    candidates = []
    for seed in range(17000, seeds[-1] + 1):       # every accepted seed up to the last, none skipped
        world.reset("pick_cube", "distractor", seed)
        if neighbour_hue_any(world.task):
            candidates.append(seed)
    assert seeds == candidates and len(seeds) == 2
    assert all(m["layouts"] == "neighbour_hue_any" for m in metas)


def test_neighbour_hues():
    from types import SimpleNamespace as Task

    from gr2_drivers.sim.tasks import LAYOUT_FILTERS, neighbour_hue_any, neighbour_hue_cube, object_colours
    assert neighbour_hue_cube(Task(colors=["orange", "red"]))
    assert neighbour_hue_cube(Task(colors=["purple", "green", "blue"]))
    assert not neighbour_hue_cube(Task(colors=["green", "red"]))
    assert not neighbour_hue_cube(Task())          # a task without coloured objects
    # the extra distractor objects count for neighbour_hue_any only
    scene = Task(colors=["red", "green"], distractor_colors=["blue", "orange", "purple"])
    assert object_colours(scene) == {"obj0": "red", "obj1": "green", "distractor0": "blue",
                                     "distractor1": "orange", "distractor2": "purple"}
    assert neighbour_hue_any(scene) and not neighbour_hue_cube(scene)
    assert neighbour_hue_any(Task(colors=["orange", "red"], distractor_colors=[]))
    assert not neighbour_hue_any(Task(colors=["green", "red"], distractor_colors=["blue", "purple"]))
    assert not neighbour_hue_any(Task())
    assert LAYOUT_FILTERS["all"](Task())


def test_distractor_colours_are_recorded():
    """The colour names a layout records are the colours the distractors are rendered with, and
    none repeats the task's own objects' colours."""
    import numpy as np

    from gr2_drivers.sim.tasks import COLORS, object_colours
    from gr2_drivers.sim.world import World
    world = World()
    for seed in (100000, 100033):
        world.reset("pick_cube", "distractor", seed)
        colours = object_colours(world.task)
        assert len(colours) == 5
        for name, colour in colours.items():
            geom = world.model.body(name).geomadr[0]
            assert np.allclose(world.model.geom_rgba[geom][:3], COLORS[colour], atol=1e-6)
        assert not {colours[f"distractor{i}"] for i in range(3)} & {colours["obj0"], colours["obj1"]}
    world.reset("pick_cube", "simple", 100000)
    assert set(object_colours(world.task)) == {"obj0", "obj1"}
