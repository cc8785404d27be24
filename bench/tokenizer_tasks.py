"""Does a tokenizer keep every task's scene? Reconstruction PSNR per task and camera view, for one
or more VQGAN checkpoints side by side, on the same held-out expert episodes.

    python bench/tokenizer_tasks.py --vqgan package://gr2_policy/checkpoints/pick_cube_vqgan \
        runs/multitask/vqgan/ckpt --episodes 3 --out bench/results/tokenizer_tasks.json

Per task, `--episodes` scripted-expert episodes on held-out seeds (from EVAL_FIRST_SEED: never in
any training set) in `--setting`; frames recorded at the sim node's camera size (config/sim.yaml)
and `--fps`, taken through `model_input.prepare_frame` (the one data path), encoded and decoded by
each VQGAN. PSNR (dB) of the reconstruction against the model-input frame, as the tokenizer's
training reports it (`gr2_policy.train.evaluate_vqgan`): mean over episodes of each episode's
value, with a 95% Student-t interval over episodes. Whole-frame PSNR is
dominated by the table; bench/input_visibility.py measures the task objects themselves.
Writes JSON and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def episode_frames(world, task: str, setting: str, seed: int, fps: float, size: tuple[int, int]) -> dict:
    """{view: (T, H, W, 3) uint8} camera frames of the scripted expert's episode, at the sim size."""
    from gr2_drivers.sim.dataset import RecordConfig, record_episode
    _, streams = record_episode(world, task, setting, seed, RecordConfig(fps=fps, width=size[0], height=size[1],
                                                                           drop_idle=True))
    return {"head_camera": streams["head_rgb"], "wrist_camera": streams["wrist_rgb"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vqgan", nargs="+", required=True, help="VQGAN checkpoint folder(s) or package:// URI(s)")
    p.add_argument("--tasks", nargs="+", default=["all"], help="task names, or 'all'")
    p.add_argument("--setting", default="simple")
    p.add_argument("--episodes", type=int, default=3, help="episodes per task")
    p.add_argument("--fps", type=float, default=5.0, help="recorded frames per second of sim time")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="bench/results/tokenizer_tasks.json")
    args = p.parse_args(argv)

    import torch

    from gr2_bringup.evaluate import load_sim_params
    from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, TASKS
    from gr2_drivers.sim.world import World, load_sim_config
    from gr2_policy.checkpoint import load_vqgan
    from gr2_policy.model_input import prepare_frames
    from gr2_policy.train import evaluate_vqgan
    from gr2_policy.video_metrics import mean_ci95

    torch.set_num_threads(args.threads)
    tasks = list(TASKS) if args.tasks == ["all"] else args.tasks
    vqgans = {path: load_vqgan(path)[0].eval() for path in args.vqgan}
    resolutions = {v.config.resolution for v in vqgans.values()}
    if len(resolutions) != 1:
        p.error(f"the tokenizers have different resolutions {sorted(resolutions)}")
    (res,) = resolutions
    sim = load_sim_params()
    size = (int(sim["image_width"]), int(sim["image_height"]))
    world = World(load_sim_config())
    t0 = time.monotonic()
    per_episode: dict[tuple, list[float]] = {}
    frames_counted: dict[str, int] = {}
    for task in tasks:
        for seed in range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + args.episodes):
            for view, frames in episode_frames(world, task, args.setting, seed, args.fps, size).items():
                model_in = prepare_frames(frames, res)
                frames_counted[task] = frames_counted.get(task, 0) + len(model_in)
                for path, vq in vqgans.items():
                    psnr = evaluate_vqgan(vq, model_in, "cpu")["psnr_db"]
                    per_episode.setdefault((task, view, path), []).append(psnr)
    rows = []
    for (task, view, path), values in per_episode.items():
        m = mean_ci95(values)
        rows.append({"task": task, "view": view, "vqgan": path, "psnr_db": round(m["mean"], 2),
                     "ci95": [round(x, 2) for x in m["ci95"]], "episodes": m["n"]})
    names = list(args.vqgan)
    print("| task | view | " + " | ".join(f"PSNR dB [95% CI], {n}" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for task in tasks:
        for view in ("head_camera", "wrist_camera"):
            cells = []
            for n in names:
                r = next(r for r in rows if (r["task"], r["view"], r["vqgan"]) == (task, view, n))
                cells.append(f"{r['psnr_db']:.1f} [{r['ci95'][0]:.1f}, {r['ci95'][1]:.1f}]")
            print(f"| {task} | {view} | " + " | ".join(cells) + " |")
    doc = {"command": "python " + " ".join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)]),
           "setting": args.setting, "first_seed": EVAL_FIRST_SEED, "episodes_per_task": args.episodes,
           "fps": args.fps, "camera_size": list(size), "resolution": res, "frames_per_task": frames_counted,
           "wall_s": round(time.monotonic() - t0, 1), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(f"wrote {args.out} ({doc['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
