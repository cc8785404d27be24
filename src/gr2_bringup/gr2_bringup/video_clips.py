"""Captioned, action-free video clips for GR-2's video pre-training (paper sec. 2.1: "videos with
language descriptions", no actions): the scripted expert doing the sim's tasks, filmed by the head
and wrist cameras.

    python -m gr2_bringup.video_clips --config config/multitask/videos_unseen_scenes.yaml
    python -m gr2_bringup.video_clips --out data/videos/unseen --tasks all --settings simple distractor \\
        --clips 10 --first-seed 60000 --scenes unseen

`--scenes unseen` films in scenes that neither the fine-tuning data nor any evaluation setting
shows: table and backdrop colours from `tasks.unseen_scene_colors` (away from every setting's
palette), distractors in random colours. `--scenes training` films the training scenes: the robot's
own camera videos without its actions. A clip is NAME.head_camera.mp4 + NAME.wrist_camera.mp4 +
NAME.txt (the instruction as caption), the layout `gr2_policy.data.VideoClipReader` reads, with
NAME = task-setting-seed. Only clips whose expert succeeded are written (a caption must say what the
clip shows). Also written: generation_stats.json (per task, with the command) and contact_sheet.png
(a mid-clip head frame of the first clip of each task and setting, 24 at most). Seeds must lie
below the evaluation seeds.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

SCENES = ("unseen", "training")


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (its --config files are checked against it by tests)."""
    p = argparse.ArgumentParser(prog="python -m gr2_bringup.video_clips", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file of option defaults (config/multitask/videos_unseen_scenes.yaml)")
    p.add_argument("--out", help="folder for the clips (created)")
    p.add_argument("--tasks", nargs="+", default=["all"], help="task names, or 'all'")
    p.add_argument("--settings", nargs="+", default=["simple"])
    p.add_argument("--clips", type=int, default=10, help="seeds per task and setting (failed ones are not written)")
    p.add_argument("--first-seed", type=int, default=60000)
    p.add_argument("--scenes", choices=SCENES, default="unseen")
    p.add_argument("--fps", type=float, default=10.0,
                   help="frames per s of sim time (the model's rate: read with stride 1)")
    p.add_argument("--size", type=int, default=128, help="px, square frames")
    return p


def restyle_unseen(world, rng: np.random.Generator) -> None:
    """Repaint the laid-out scene in colours no setting uses: table and backdrop from
    tasks.unseen_scene_colors, every distractor a random RGB. The task's named objects keep their
    colours (the caption names them)."""
    from gr2_drivers.sim.tasks import set_rgb, unseen_scene_colors
    table, backdrop = unseen_scene_colors(rng)
    set_rgb(world, "table_top", table)
    set_rgb(world, "backdrop", backdrop)
    for i in range(world.task.distractor_count(world.setting)):
        set_rgb(world, f"distractor{i}", rng.uniform(0.05, 0.95, 3))


def write_clip(out: Path, name: str, caption: str, streams: dict[str, np.ndarray], fps: float) -> None:
    """NAME.<view>.mp4 per camera view (the recorded streams the sim dataset reader maps the model's
    views to) and NAME.txt into `out`."""
    from gr2_policy.data import SimDatasetReader, write_video
    for view, stream in SimDatasetReader.STREAM_OF_VIEW.items():
        write_video(out / f"{name}.{view}.mp4", streams[stream], fps=int(round(fps)))
    (out / f"{name}.txt").write_text(caption + "\n")


def contact_sheet(frames: list[np.ndarray], captions: list[str], path: Path, columns: int = 6) -> None:
    """A grid of frames (H, W, 3) uint8, each titled with its caption, saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = -(-len(frames) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, frame, caption in zip(axes.ravel(), frames, captions, strict=False):
        ax.imshow(frame)
        ax.set_title(caption, fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Write the clips as the module docstring describes; returns the exit code."""
    from gr2_contract.config import parse_with_config
    p = build_parser()
    args = parse_with_config(p, argv, required=("out",))

    from tqdm import tqdm

    from gr2_drivers.sim.dataset import RecordConfig, record_episode
    from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, SETTINGS, TASKS
    from gr2_drivers.sim.world import World, load_sim_config

    tasks = list(TASKS) if args.tasks == ["all"] else args.tasks
    unknown = [t for t in tasks if t not in TASKS] + [s for s in args.settings if s not in SETTINGS]
    if unknown:
        p.error(f"unknown task(s)/setting(s) {unknown}; tasks: {list(TASKS)}, settings: {list(SETTINGS)}")
    if args.clips < 1 or args.size < 16:
        p.error("--clips must be >= 1 and --size >= 16")
    if args.first_seed + args.clips > EVAL_FIRST_SEED:
        p.error(f"seeds up to {args.first_seed + args.clips - 1} reach the evaluation seeds (>= {EVAL_FIRST_SEED})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    world = World(load_sim_config())
    cfg = RecordConfig(fps=args.fps, width=args.size, height=args.size)
    stats = {"command": " ".join(["python -m gr2_bringup.video_clips", *(sys.argv[1:] if argv is None else argv)]),
             "scenes": args.scenes, "fps": args.fps, "size": args.size, "clips": 0, "frames": 0, "per_task": {}}
    sheet, sheet_captions, shown = [], [], set()
    bar = tqdm(total=len(tasks) * len(args.settings) * args.clips, desc="clips", unit="clip", dynamic_ncols=True)
    t0 = time.monotonic()
    for ti, task in enumerate(tasks):
        row = stats["per_task"].setdefault(task, {"written": 0, "expert_failed": 0})
        for si, setting in enumerate(args.settings):
            for seed in range(args.first_seed, args.first_seed + args.clips):
                restyle = None
                if args.scenes == "unseen":     # a look of its own per (seed, task, setting)
                    restyle = functools.partial(restyle_unseen, rng=np.random.default_rng([seed, ti, si, 3]))
                meta, streams = record_episode(world, task, setting, seed, cfg, restyle=restyle)
                bar.update(1)
                if not meta["success"]:
                    row["expert_failed"] += 1
                    continue
                name = f"{task}-{setting}-{seed:06d}"
                write_clip(out, name, meta["instruction"], streams, args.fps)
                row["written"] += 1
                stats["clips"] += 1
                stats["frames"] += len(streams["head_rgb"])
                if len(sheet) < 24 and (task, setting) not in shown:    # one clip per task and setting
                    shown.add((task, setting))
                    sheet.append(streams["head_rgb"][len(streams["head_rgb"]) // 2])
                    sheet_captions.append(meta["instruction"])
                bar.set_postfix(task=task, written=stats["clips"])
    bar.close()
    stats["seconds"] = round(time.monotonic() - t0, 1)
    (out / "generation_stats.json").write_text(json.dumps(stats, indent=1))
    if sheet:
        contact_sheet(sheet, sheet_captions, out / "contact_sheet.png")
    failed = sum(r["expert_failed"] for r in stats["per_task"].values())
    print(f"[video_clips] {stats['clips']} clips ({stats['frames']} frames per view) in {out} "
          f"({stats['seconds']:.0f} s; {failed} expert failures left out)")
    return 0 if stats["clips"] else 1


if __name__ == "__main__":
    sys.exit(main())
