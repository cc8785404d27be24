"""Learning-data pieces of the expert: DART noise, idle-frame removal, held-out seeds, and the
state-feedback expert (Task.replan) that DAgger labels rollouts with."""
import numpy as np
import pytest

from gr2_contract.episode import has_expert_labels
from gr2_drivers.sim.dataset import RecordConfig, generate, idle_frames, record_episode
from gr2_drivers.sim.expert import DartNoise, ScriptedExpert, StepTarget
from gr2_drivers.sim.ik import solve_ik
from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, tcp_rotation
from gr2_drivers.sim.world import World, load_sim_config


@pytest.fixture(scope="module")
def world():
    return World(load_sim_config())


def test_dart_noise_is_correlated_with_the_configured_spread():
    noise = DartNoise(sigma=0.01, yaw_sigma=0.1, tau=0.3, control_dt=0.02)
    noise.reset(np.random.default_rng(0))
    target = StepTarget(np.array([0.5, 0.0, 0.2]), 0.0, 0.0)
    out = np.array([np.r_[noise(target).pos - target.pos] for _ in range(20000)])
    assert np.allclose(out[:, :2].std(0), 0.01, rtol=0.15)
    assert (out[:, 2] >= 0).all()                          # never pushed below the plan
    lag1 = np.corrcoef(out[:-1, 0], out[1:, 0])[0, 1]
    assert lag1 == pytest.approx(np.exp(-0.02 / 0.3), abs=0.02)


def test_idle_frames_are_those_where_nothing_moves():
    T = 6
    ee = np.zeros((T, 7), np.float32)
    ee[:, 0] = [0.0, 0.01, 0.02, 0.02, 0.02, 0.02]         # moves until frame 2, then still
    streams = {"ee_pose": ee, "action_ee_pose": ee.copy(), "gripper": np.zeros(T, np.float32),
               "action_gripper": np.zeros(T, np.float32)}
    streams["gripper"][4] = 0.5                            # the gripper moves at frame 4
    assert idle_frames(streams).tolist() == [False, False, False, True, False, False]


def test_dataset_refuses_evaluation_seeds(tmp_path):
    with pytest.raises(ValueError, match="evaluation seeds"):
        generate(tmp_path, ["pick_cube"], "simple", 2, EVAL_FIRST_SEED - 1, RecordConfig(width=32, height=32))


def test_dart_episode_labels_are_the_clean_plan(world):
    cfg = RecordConfig(width=32, height=32, dart_sigma=0.01, dart_yaw_sigma=0.1, drop_idle=True)
    meta, st = record_episode(world, "pick_cube", "simple", 3, cfg)
    clean_meta, clean = record_episode(world, "pick_cube", "simple", 3, RecordConfig(width=32, height=32))
    assert meta["dart_sigma"] == 0.01 and meta["frames"] <= meta["recorded_frames"]
    # the executed motion left the plan, the labels stayed on it
    n = min(len(st["ee_pose"]), len(clean["ee_pose"]), 15)
    assert np.abs(st["ee_pose"][:n, :3] - clean["ee_pose"][:n, :3]).max() > 0.003
    assert not idle_frames(st)[1:].any()
    assert has_expert_labels({"success": False, "relabelled": True}) and not has_expert_labels({"success": False})


def test_chunk_label_is_the_plan_from_the_current_state(world):
    """`relabel_chunk`: k targets of the state-feedback plan `spacing` s apart, the first being
    `relabel`'s, the tail repeating the plan's last target."""
    from gr2_drivers.sim.expert import interpolate
    world.reset("pick_cube", "simple", EVAL_FIRST_SEED)
    expert = ScriptedExpert(world)
    chunk = expert.relabel_chunk(0.0, 10, 0.1)
    first = expert.relabel(0.0)
    assert len(chunk) == 10 and np.array_equal(chunk[0].pos, first.pos) and chunk[0].yaw == first.yaw
    pos, _ = world.ee_pose()
    rot = world.data.site_xmat[world.tcp_site].reshape(3, 3)
    start = StepTarget(pos, float(np.arctan2(-rot[0, 0], rot[1, 0])), 0.0)
    plan = list(interpolate(start, world.task.replan(world, 0.0), expert.cfg))
    stride = int(round(0.1 / expert.cfg.control_dt))
    for j, target in enumerate(chunk):
        np.testing.assert_array_equal(target.pos, plan[min(j * stride, len(plan) - 1)].pos)
    assert np.linalg.norm(chunk[-1].pos - chunk[0].pos) > 0.05          # a plan that goes somewhere
    short = expert.relabel_chunk(0.0, 10, 10.0)                       # past the plan's end: its last target
    np.testing.assert_array_equal(short[-1].pos, plan[-1].pos)


@pytest.mark.parametrize("seed", [EVAL_FIRST_SEED, EVAL_FIRST_SEED + 1])
def test_feedback_expert_recovers_from_a_displaced_arm(world, seed):
    """Driven only by `relabel` from the current state, after being pushed 10 cm off course and
    with the gripper closed on nothing, the expert still picks the named cube."""
    world.reset("pick_cube", "distractor", seed)
    expert = ScriptedExpert(world)
    n = int(round(expert.cfg.control_dt / world.model.opt.timestep))
    q_prev, command = world.joint_positions(), 1.0          # start "closed on nothing"
    world.set_gripper(command)
    offset = np.array([0.08, -0.08, -0.05])
    for k in range(int(12.0 / expert.cfg.control_dt)):
        target = expert.relabel(command)
        if k < 40:                                          # a disturbance for the first 0.8 s
            target = StepTarget(target.pos + offset * min(1.0, k / 20), target.yaw, target.gripper)
        q, _ = solve_ik(world.model, world.tcp_site, world.arm_qpos, world.arm_dof, q_prev, target.pos,
                        tcp_rotation(target.yaw), world.lower, world.upper, iters=50, scratch=expert.scratch)
        world.set_joint_command(q, np.clip((q - q_prev) / expert.cfg.control_dt, -world.velocity_limit,
                                           world.velocity_limit))
        command = float(np.clip(target.gripper, 0.0, 1.0))
        world.set_gripper(command)
        world.step(n)
        q_prev = q
        if world.success():
            break
    assert world.success()


def test_exchanged_target_is_the_same_picture_with_the_other_colour_named(world):
    from gr2_drivers.sim.dataset import exchange_partner
    from gr2_drivers.sim.tasks import COLORS, NEIGHBOUR_HUES, free_pos, object_colours
    world.reset("pick_cube", "distractor", 30000)          # yellow target, orange obj1 (a training seed)
    before = object_colours(world.task)
    assert exchange_partner(world) == "obj1" and frozenset({before["obj0"], before["obj1"]}) in NEIGHBOUR_HUES
    views = {v: world.render(v, 64, 64) for v in ("head_camera", "wrist_camera")}
    places = {b: free_pos(world, b) for b in ("obj0", "obj1")}
    instruction = world.task.exchange_target(world, "obj1")
    assert instruction == f"pick up the {before['obj1']} cube" == world.instruction
    for v, img in views.items():
        assert np.array_equal(world.render(v, 64, 64), img)   # the other cube, same size: the same picture
    assert np.allclose(free_pos(world, "obj0")[:2], places["obj1"][:2])
    assert object_colours(world.task)["obj0"] == before["obj1"]
    assert np.allclose(world.model.geom_rgba[world.model.body_geomadr[world.model.body("obj0").id], :3],
                       COLORS[before["obj1"]])
    assert ScriptedExpert(world).run()                       # the expert lifts the newly named one
    assert free_pos(world, "obj0")[2] > 0.08 and free_pos(world, "obj1")[2] < 0.03
    with pytest.raises(ValueError, match="no other coloured object"):
        world.task.exchange_target(world, "obj7")


def test_hue_pairs_record_each_qualifying_layout_twice(tmp_path):
    import json
    stats = generate(tmp_path, ["pick_cube"], "distractor", 3, 30000, RecordConfig(width=32, height=32),
                     hue_pairs=True)
    rows = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert stats["skipped_layouts"] == 1 and stats["episodes"] == 4 == len(rows)   # 30001 has no neighbouring hue
    by_dir = {r["dir"]: r for r in rows}
    assert by_dir["pick_cube-distractor-030000"]["instruction"] == "pick up the yellow cube"
    assert by_dir["pick_cube-distractor-030000-exchanged"]["instruction"] == "pick up the orange cube"
