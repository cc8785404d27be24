"""Dataset generator: scripted-expert episodes recorded in lockstep, one directory per episode.

On-disk format (documented in SIM.md), chosen so that training can stream windows of frames
without decoding whole episodes: every stream is one uncompressed .npy file whose first axis
is time, so `np.load(path, mmap_mode="r")[t:t + h]` reads only the frames it needs.

    <out>/index.jsonl                       one JSON line per episode (dir, task, instruction, success, frames)
    <out>/<episode>/meta.json               instruction, task, skill, setting, seed, success, fps, streams
    <out>/<episode>/head_rgb.npy            uint8 (T, H, W, 3)
    <out>/<episode>/wrist_rgb.npy           uint8 (T, H, W, 3)
    <out>/<episode>/joint_pos.npy           float32 (T, 7) rad, joint_1..joint_7
    <out>/<episode>/gripper.npy             float32 (T,) measured opening, 0 open .. 1 closed
    <out>/<episode>/ee_pose.npy             float32 (T, 7) TCP in base_link: x y z qx qy qz qw
    <out>/<episode>/action_ee_pose.npy      float32 (T, 7) the expert's TCP target issued after frame t
    <out>/<episode>/action_gripper.npy      float32 (T,) the expert's gripper command after frame t

Run: `python -m gr2_drivers.sim.dataset --out data/sim --tasks all --setting simple --episodes 20`.
ROS-free.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from gr2_contract import HEAD_CAMERA, WRIST_CAMERA

from .expert import ExpertConfig, ScriptedExpert, StepTarget
from .tasks import SETTINGS, TASKS, tcp_rotation
from .world import World, load_sim_config

STREAMS = ("head_rgb", "wrist_rgb", "joint_pos", "gripper", "ee_pose", "action_ee_pose", "action_gripper")


@dataclass
class RecordConfig:
    fps: float = 10.0                # recorded frames per second of sim time
    width: int = 224
    height: int = 224
    keep_failed: bool = True         # failed episodes are written too, flagged success=false


def _pose_xyzw(target: StepTarget) -> np.ndarray:
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, tcp_rotation(target.yaw).ravel())
    return np.concatenate([target.pos, np.roll(quat, -1)])


def record_episode(world: World, task: str, setting: str, seed: int, cfg: RecordConfig,
                   expert_cfg: ExpertConfig | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Reset to (task, setting, seed), run the expert, return (meta, streams)."""
    instruction = world.reset(task, setting, seed)
    expert = ScriptedExpert(world, expert_cfg)
    every = max(1, int(round(1.0 / (cfg.fps * expert.cfg.control_dt))))
    frames: dict[str, list] = {k: [] for k in STREAMS}
    step = [0]

    def on_step(target: StepTarget) -> None:
        if step[0] % every == 0:
            pos, quat = world.ee_pose()
            frames["head_rgb"].append(world.render(HEAD_CAMERA, cfg.width, cfg.height))
            frames["wrist_rgb"].append(world.render(WRIST_CAMERA, cfg.width, cfg.height))
            frames["joint_pos"].append(world.joint_positions())
            frames["gripper"].append(world.gripper_position())
            frames["ee_pose"].append(np.concatenate([pos, quat]))
            frames["action_ee_pose"].append(_pose_xyzw(target))
            frames["action_gripper"].append(target.gripper)
        step[0] += 1

    success = expert.run(on_step)
    streams = {k: np.asarray(v, dtype=np.uint8 if k.endswith("rgb") else np.float32) for k, v in frames.items()}
    meta = {"instruction": instruction, "task": task, "skill": world.task.skill, "setting": setting,
            "seed": int(seed), "success": bool(success), "fps": cfg.fps, "frames": len(frames["joint_pos"]),
            "image_size": [cfg.height, cfg.width], "streams": {k: [list(v.shape), str(v.dtype)]
                                                               for k, v in streams.items()}}
    return meta, streams


def write_episode(out: Path, meta: dict, streams: dict[str, np.ndarray]) -> Path:
    name = f"{meta['task']}-{meta['setting']}-{meta['seed']:06d}"
    path = out / name
    path.mkdir(parents=True, exist_ok=True)
    for key, array in streams.items():
        np.save(path / f"{key}.npy", array)
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    with open(out / "index.jsonl", "a") as index:
        index.write(json.dumps({"dir": name, "task": meta["task"], "instruction": meta["instruction"],
                                "setting": meta["setting"], "success": meta["success"],
                                "frames": meta["frames"]}) + "\n")
    return path


def load_episode(path: Path | str, mmap: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Meta and memory-mapped streams of one episode (what a training loader reads)."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    return meta, {k: np.load(path / f"{k}.npy", mmap_mode="r" if mmap else None) for k in STREAMS}


def generate(out: Path, tasks: list[str], setting: str, episodes: int, first_seed: int,
             cfg: RecordConfig) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    world = World(load_sim_config())  # the cameras and physics of config/sim.yaml
    stats = {"setting": setting, "episodes": 0, "written": 0, "per_task": {}}
    t0 = time.monotonic()
    for task in tasks:
        ok = 0
        for seed in range(first_seed, first_seed + episodes):
            meta, streams = record_episode(world, task, setting, seed, cfg)
            ok += meta["success"]
            stats["episodes"] += 1
            if meta["success"] or cfg.keep_failed:
                write_episode(out, meta, streams)
                stats["written"] += 1
        stats["per_task"][task] = {"success": ok, "episodes": episodes}
    elapsed = time.monotonic() - t0
    stats["seconds"] = round(elapsed, 2)
    stats["episodes_per_min"] = round(60.0 * stats["episodes"] / elapsed, 1)
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tasks", default="all", help="comma-separated task names, or 'all'")
    parser.add_argument("--setting", default="simple", choices=SETTINGS)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("W", "H"))
    parser.add_argument("--successful-only", action="store_true", help="do not write failed episodes")
    args = parser.parse_args(argv)
    tasks = list(TASKS) if args.tasks == "all" else args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; known: {sorted(TASKS)}")
    cfg = RecordConfig(fps=args.fps, width=args.size[0], height=args.size[1], keep_failed=not args.successful_only)
    stats = generate(args.out, tasks, args.setting, args.episodes, args.first_seed, cfg)
    for task, s in stats["per_task"].items():
        print(f"{task:22s} {s['success']:3d}/{s['episodes']} successful")
    print(f"{stats['episodes']} episodes in {stats['seconds']} s: {stats['episodes_per_min']} episodes/min "
          f"(lockstep, {cfg.width}x{cfg.height}, {cfg.fps:g} fps)")
    (args.out / "generation_stats.json").write_text(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
