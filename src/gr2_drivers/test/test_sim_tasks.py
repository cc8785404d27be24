"""Tasks, settings, scripted expert and dataset format (core, no ROS)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gr2_contract.episode import STREAMS, load_episode, write_episode
from gr2_drivers.sim.dataset import RecordConfig, record_episode
from gr2_drivers.sim.dataset import main as generate_main
from gr2_drivers.sim.expert import ScriptedExpert
from gr2_drivers.sim.tasks import (
    COLORS,
    SEEN_BACKDROPS,
    SEEN_TABLES,
    TASKS,
    UNSEEN_BACKDROPS,
    UNSEEN_TABLES,
    unseen_scene_colors,
)
from gr2_drivers.sim.world import World


@pytest.fixture(scope="module")
def world():
    return World()


def test_at_least_12_instructions_over_5_skills(world):
    instructions, skills = set(), set()
    for task in TASKS:
        for seed in range(4):
            instructions.add(world.reset(task, "simple", seed))
            skills.add(world.task.skill)
    assert "move any object from the right basket to the left basket" in instructions
    assert {"pick", "place", "open", "close", "press"} <= skills
    assert len(instructions) >= 12


@pytest.mark.parametrize("task", sorted(TASKS))
def test_scripted_expert_succeeds_on_a_sample_of_seeds(world, task):
    for seed in (100, 101):
        instruction = world.reset(task, "simple", seed)
        assert not world.success(), f"{task} seed {seed} starts solved"
        assert ScriptedExpert(world).run(), f"{task} seed {seed}: {instruction!r} failed"


def test_settings_change_the_scene(world):
    def rgb(geom):
        return world.model.geom(geom).rgba[:3]

    def among(colour, palette):
        return any(np.allclose(colour, c, atol=1e-6) for c in palette)

    world.reset("pick_cube", "distractor", 0)
    distractors = [world.data.body(f"distractor{i}").xpos for i in range(3)]
    assert all(0.3 <= p[0] <= 0.72 and abs(p[2] - 0.02) < 0.01 for p in distractors)
    for i in range(3):
        assert not among(rgb(f"distractor{i}"), [COLORS[c] for c in world.task.colors])
    for seed in range(5):
        world.reset("pick_cube", "simple", seed)
        assert among(rgb("table_top"), SEEN_TABLES)
        world.reset("pick_cube", "unseen_background", seed)
        assert among(rgb("table_top"), UNSEEN_TABLES) and not among(rgb("table_top"), SEEN_TABLES)


def test_unseen_scene_colors_stay_away_from_every_setting_palette():
    palette = np.array(SEEN_TABLES + UNSEEN_TABLES + SEEN_BACKDROPS + UNSEEN_BACKDROPS)
    draws = [unseen_scene_colors(np.random.default_rng(s)) for s in range(200)]
    for table, backdrop in draws:
        for rgb in (table, backdrop):
            assert np.linalg.norm(palette - rgb, axis=1).min() >= 0.25 and (0.05 <= rgb).all() and (rgb <= 0.95).all()
    assert np.ptp(np.array([t for t, _ in draws]), axis=0).min() > 0.5        # spread, not one colour
    same = unseen_scene_colors(np.random.default_rng(7))
    assert all(np.array_equal(a, b) for a, b in zip(same, unseen_scene_colors(np.random.default_rng(7)), strict=True))


def test_bin_picking_object_counts(world):
    counts = {"simple": set(), "cluttered": set()}
    for setting in counts:
        for seed in range(6):
            world.reset("bin_picking", setting, seed)
            n = len(world.task.objects)
            counts[setting].add(n)
            right = [world.task.in_basket(world.data.body(o).xpos, "right") for o in world.task.objects]
            assert all(right)
    assert all(5 <= n <= 9 for n in counts["simple"])
    assert all(10 <= n <= 18 for n in counts["cluttered"])


def test_dataset_episode_roundtrip(world, tmp_path):
    meta, streams = record_episode(world, "pick_cube", "simple", 7, RecordConfig(fps=10.0))
    assert meta["success"]
    path = write_episode(tmp_path, meta, streams)
    loaded_meta, loaded = load_episode(path)
    assert loaded_meta == json.loads(json.dumps(meta))
    t = meta["frames"]
    assert t > 10 and set(loaded) == set(STREAMS)
    assert loaded["head_rgb"].shape == (t, 224, 224, 3) and loaded["head_rgb"].dtype == np.uint8
    assert loaded["joint_pos"].shape == (t, 7) and loaded["ee_pose"].shape == (t, 7)
    assert loaded["action_ee_pose"].shape == (t, 7) and loaded["action_gripper"].shape == (t,)
    # The robot moves: the first and last frames differ, and the gripper closes during the episode.
    assert np.abs(loaded["wrist_rgb"][0].astype(int) - loaded["wrist_rgb"][-1]).mean() > 5
    assert loaded["action_gripper"][0] == 0.0 and loaded["action_gripper"].max() == 1.0
    # The action at t is (close to) where the TCP is a little later: actions lead observations.
    assert np.linalg.norm(loaded["action_ee_pose"][-1, :3] - loaded["ee_pose"][-1, :3]) < 0.01
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert index[0]["dir"] == path.name and index[0]["success"]


def test_dataset_command_line_writes_index_and_stats(tmp_path, capsys):
    generate_main(["--out", str(tmp_path), "--tasks", "press_button", "--episodes", "2", "--fps", "5"])
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [e["dir"] for e in index] == ["press_button-simple-000000", "press_button-simple-000001"]
    stats = json.loads((tmp_path / "generation_stats.json").read_text())
    assert stats["episodes"] == 2 and stats["episodes_per_min"] > 0
    assert "episodes/min" in capsys.readouterr().out
