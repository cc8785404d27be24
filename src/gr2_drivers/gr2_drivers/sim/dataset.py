"""Dataset generator: scripted-expert episodes recorded in lockstep, one directory per episode,
in the on-disk format of gr2_contract.episode (documented in SIM.md).

Run: `python -m gr2_drivers.sim.dataset --out data/sim --tasks all --setting simple --episodes 20`.
ROS-free.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from gr2_contract import HEAD_CAMERA, WRIST_CAMERA
from gr2_contract.episode import STREAMS, stack_streams, stream_shapes, write_episode

from .expert import DartNoise, ExpertConfig, ScriptedExpert, StepTarget
from .tasks import EVAL_FIRST_SEED, SETTINGS, TASKS, tcp_rotation
from .world import World, load_sim_config


@dataclass
class RecordConfig:
    """How episodes are recorded: frame rate (per s of sim time), image size (px), DART noise, idle frames."""
    fps: float = 10.0                # recorded frames per second of sim time
    width: int = 224
    height: int = 224
    keep_failed: bool = True         # failed episodes are written too, flagged success=false
    dart_sigma: float = 0.0          # m, DART noise on the executed TCP target (0: clean expert)
    dart_yaw_sigma: float = 0.0      # rad, DART noise on the executed yaw
    drop_idle: bool = False          # leave out frames in which nothing moves (see `idle_frames`)


def _pose_xyzw(target: StepTarget) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, tcp_rotation(target.yaw, target.tilt).ravel())
    return np.concatenate([target.pos, np.roll(quat, -1)])


def record_observation(world: World, streams: dict[str, list], width: int, height: int) -> None:
    """Append the current sim state (both cameras at width x height, joints, gripper, TCP pose)
    to `streams` (lists keyed by STREAMS): every stream but the action streams."""
    pos, quat = world.ee_pose()
    streams["head_rgb"].append(world.render(HEAD_CAMERA, width, height))
    streams["wrist_rgb"].append(world.render(WRIST_CAMERA, width, height))
    streams["joint_pos"].append(world.joint_positions())
    streams["gripper"].append(world.gripper_position())
    streams["ee_pose"].append(np.concatenate([pos, quat]))


def record_state(world: World, label: StepTarget, streams: dict[str, list], width: int, height: int,
                 chunk: list[StepTarget] | None = None) -> None:
    """Append the current sim state (record_observation) and `label` (the expert's target for this
    state) to `streams` (lists keyed by STREAMS); `chunk` (the expert's plan from this state,
    `ScriptedExpert.relabel_chunk`) also to the CHUNK_STREAMS lists, which `streams` must then hold."""
    record_observation(world, streams, width, height)
    streams["action_ee_pose"].append(_pose_xyzw(label))
    streams["action_gripper"].append(label.gripper)
    if chunk is not None:
        streams["action_chunk_ee_pose"].append(np.stack([_pose_xyzw(c) for c in chunk]))
        streams["action_chunk_gripper"].append(np.array([c.gripper for c in chunk]))


def record_episode(world: World, task: str, setting: str, seed: int, cfg: RecordConfig,
                   expert_cfg: ExpertConfig | None = None,
                   restyle: Callable[[World], str | None] | None = None,
                   ) -> tuple[dict, dict[str, np.ndarray]]:
    """Reset to (task, setting, seed), run the expert, return (meta, streams). `restyle(world)`, when
    given, changes the scene after the layout (e.g. colours no setting uses, or which object is
    named: `PickTask.exchange_target`) and returns the new instruction, or None to keep it; it
    brings its own randomness, so the layout stays the seed's."""
    instruction = world.reset(task, setting, seed)
    if restyle is not None:
        instruction = restyle(world) or instruction
    expert = ScriptedExpert(world, expert_cfg)
    every = max(1, int(round(1.0 / (cfg.fps * expert.cfg.control_dt))))
    frames: dict[str, list] = {k: [] for k in STREAMS}
    step = [0]

    def on_step(target: StepTarget) -> None:
        if step[0] % every == 0:
            record_state(world, target, frames, cfg.width, cfg.height)
        step[0] += 1

    perturb = None
    if cfg.dart_sigma > 0 or cfg.dart_yaw_sigma > 0:
        perturb = DartNoise(cfg.dart_sigma, cfg.dart_yaw_sigma, control_dt=expert.cfg.control_dt)
        perturb.reset(np.random.default_rng([seed, 1]))   # its own stream: the layout stays the seed's
    success = expert.run(on_step, perturb)
    streams = stack_streams(frames)
    recorded = len(streams["joint_pos"])
    if cfg.drop_idle:
        keep = ~idle_frames(streams)
        streams = {k: v[keep] for k, v in streams.items()}
    meta = {"instruction": instruction, "task": task, "skill": world.task.skill, "setting": setting,
            "seed": int(seed), "success": bool(success), "fps": cfg.fps, "frames": len(streams["joint_pos"]),
            "recorded_frames": recorded, "dart_sigma": cfg.dart_sigma, "dart_yaw_sigma": cfg.dart_yaw_sigma,
            "image_size": [cfg.height, cfg.width], "streams": stream_shapes(streams)}
    return meta, streams


def idle_frames(streams: dict[str, np.ndarray], tol_m: float = 0.001, tol_gripper: float = 0.01) -> np.ndarray:
    """(T,) bool: frames after which nothing happens - the TCP, the gripper and the expert's
    command are all where they were at the previous frame (within 1 mm / 0.01). They teach
    nothing but "stand still" and would outweigh the moving frames (the settle at the end of
    every episode). The first frame is always kept."""
    ee, act = streams["ee_pose"][:, :3], streams["action_ee_pose"][:, :3]
    grip, cmd = streams["gripper"], streams["action_gripper"]
    idle = np.zeros(len(ee), dtype=bool)
    idle[1:] = ((np.linalg.norm(np.diff(ee, axis=0), axis=1) < tol_m)
                & (np.linalg.norm(np.diff(act, axis=0), axis=1) < tol_m)
                & (np.abs(np.diff(grip)) < tol_gripper) & (np.abs(np.diff(cmd)) < tol_gripper))
    return idle


def exchange_partner(world: World) -> str | None:
    """For `--hue-pairs`: the object of the laid-out pick task to exchange the named one with
    (`PickTask.exchange_target`): the first whose colour neighbours the target's and no other
    object shares (so the exchanged instruction names one object), the task's own first; None
    when there is none or the task is not a pick task."""
    from .tasks import PickTask, neighbour_hue_objects, object_colours
    if not isinstance(world.task, PickTask):
        return None
    colours = object_colours(world.task)
    unique = [o for o in neighbour_hue_objects(world.task) if list(colours.values()).count(colours[o]) == 1]
    return unique[0] if unique else None


def generate(out: Path, tasks: list[str], setting: str, episodes: int, first_seed: int,
             cfg: RecordConfig, allow_eval_seeds: bool = False, hue_pairs: bool = False) -> dict:
    """Record `episodes` seeded episodes of each task into `out`; returns the generation statistics.

    hue_pairs: only layouts where another object's hue neighbours the named one's
    (`exchange_partner`), each recorded twice: as laid out, and with the named object exchanged
    with that one (variant "exchanged": the same picture, the other colour named, the other place
    to go), so that only the colour word and the hues tell the two apart. Other layouts are
    skipped (counted in the statistics).

    Raises ValueError when the seeds reach EVAL_FIRST_SEED, unless `allow_eval_seeds`.
    """
    if first_seed + episodes > EVAL_FIRST_SEED and not allow_eval_seeds:
        raise ValueError(f"seeds {first_seed}..{first_seed + episodes - 1} reach the evaluation seeds "
                         f"(>= {EVAL_FIRST_SEED}); training data never uses them")
    out.mkdir(parents=True, exist_ok=True)
    world = World(load_sim_config())  # the cameras and physics of config/sim.yaml
    stats = {"setting": setting, "episodes": 0, "written": 0, "skipped_layouts": 0, "per_task": {}}
    t0 = time.monotonic()
    from tqdm import tqdm
    bar = tqdm(total=len(tasks) * episodes, desc="episodes", unit="ep", dynamic_ncols=True)
    for task in tasks:
        ok = tried = 0
        for seed in range(first_seed, first_seed + episodes):
            variants: list[tuple[str, object]] = [("", None)]
            if hue_pairs:
                world.reset(task, setting, seed)
                partner = exchange_partner(world)
                variants = [] if partner is None else [
                    ("", None), ("exchanged", lambda w, o=partner: w.task.exchange_target(w, o))]
                stats["skipped_layouts"] += partner is None
            for variant, restyle in variants:
                meta, streams = record_episode(world, task, setting, seed, cfg, restyle=restyle)
                if variant:
                    meta["variant"] = variant
                ok += meta["success"]
                tried += 1
                stats["episodes"] += 1
                if meta["success"] or cfg.keep_failed:
                    write_episode(out, meta, streams)
                    stats["written"] += 1
            bar.update(1)
            bar.set_postfix(task=task, success=f"{ok}/{tried}")
        stats["per_task"][task] = {"success": ok, "episodes": tried}
    bar.close()
    elapsed = time.monotonic() - t0
    stats["seconds"] = round(elapsed, 2)
    stats["episodes_per_min"] = round(60.0 * stats["episodes"] / elapsed, 1)
    return stats


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (its --config files are checked against it by tests)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="YAML file of option defaults (e.g. config/pick_cube/dataset_dart.yaml)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    parser.add_argument("--setting", default="simple", choices=SETTINGS)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("W", "H"))
    parser.add_argument("--successful-only", action="store_true", help="do not write failed episodes")
    parser.add_argument("--dart-sigma", type=float, default=0.0, help="m, DART noise on the executed TCP target")
    parser.add_argument("--dart-yaw-sigma", type=float, default=0.0, help="rad, DART noise on the executed yaw")
    parser.add_argument("--drop-idle", action="store_true", help="leave out frames in which nothing moves")
    parser.add_argument("--hue-pairs", action="store_true",
                        help="pick tasks: only layouts with a neighbouring-hue object, each recorded as laid out and "
                             "with the named object exchanged with it (same picture, other instruction)")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Generate a dataset from the command line (options as in the module docstring or a --config file)."""
    from gr2_contract.config import parse_with_config
    parser = build_parser()
    args = parse_with_config(parser, argv, required=("out",))
    args.out = Path(args.out)
    tasks = list(TASKS) if args.tasks == "all" else args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; known: {sorted(TASKS)}")
    cfg = RecordConfig(fps=args.fps, width=args.size[0], height=args.size[1], keep_failed=not args.successful_only,
                       dart_sigma=args.dart_sigma, dart_yaw_sigma=args.dart_yaw_sigma, drop_idle=args.drop_idle)
    stats = generate(args.out, tasks, args.setting, args.episodes, args.first_seed, cfg, hue_pairs=args.hue_pairs)
    for task, s in stats["per_task"].items():
        print(f"{task:22s} {s['success']:3d}/{s['episodes']} successful")
    if args.hue_pairs:
        print(f"{stats['skipped_layouts']} layouts without a neighbouring-hue object skipped")
    print(f"{stats['episodes']} episodes in {stats['seconds']} s: {stats['episodes_per_min']} episodes/min "
          f"(lockstep, {cfg.width}x{cfg.height}, {cfg.fps:g} fps)")
    (args.out / "generation_stats.json").write_text(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
