"""Predicted-video quality on held-out episodes: next-frame token accuracy, PSNR of the decoded
predicted frames, an open-loop rollout curve, and a picture of predicted vs real rollouts.

    python bench/video_prediction.py --checkpoint package://gr2_policy/checkpoints/pick_cube \
        --settings simple distractor --episodes 5 --threads 1
    python bench/video_prediction.py --checkpoint runs/multitask/finetune/ckpt --tasks all \
        --settings simple unseen_background --episodes 2 --picture-episodes 4

Episodes: the scripted expert at held-out seeds (>= EVAL_FIRST_SEED, never in training data),
recorded as the dataset generator records (`record_episode`: 10 fps, the sim node's image size,
idle frames dropped as in the training sets unless --keep-idle), or the first --episodes of a
dataset folder (--episodes-dir: SIM.md dataset or *.npz, `data.open_episodes`). Every frame goes
through `model_input.prepare_frame` and the policy's own frozen VQGAN.

Measured per view, for every frame t+1 of an episode predicted from the real frames up to t
(teacher forcing; `gr2_policy.video_metrics` has the definitions):
- token accuracy of the next frame: per-token argmax with the frame's real earlier tokens given
  (what the training loss scores) and of the greedily generated whole frame; also over the
  tokens that change from t to t+1 only;
- PSNR (8-bit, MSE pooled over an episode's frames) of the decoded generated frame against
  (a) the VQGAN reconstruction of the real frame (what the model could reach at best) and
  (b) the real model-input frame (64 px after prepare_frame); the VQGAN's own reconstruction
  PSNR against (b) is the ceiling of (b);
- the copy-last-frame baseline on the same frames: frame t's tokens as frame t+1's;
- open loop: from real context at frames s = 1, 1 + every, ..., the next --horizon frames generated
  each from the model's own previous predictions (real robot state), PSNR per horizon against
  the copy-last baseline (the last real frame held).
Episode values are averaged over episodes with a 95% Student-t interval, pooled, per task and per
setting. Writes bench/results/video_prediction.json and bench/results/video_prediction.png
(--picture-episodes episodes, the first of each task and setting, per view a row of real frames
above a row of open-loop predicted frames).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class BenchConfig:
    """What one run measures: open-loop horizon and start spacing (frames), the picture's rollout."""
    horizon: int = 8                 # frames generated open loop from each start
    starts_every: int = 4            # frames between open-loop starts within an episode
    picture_episodes: int = 2
    picture_start: int = 1           # last real frame of the picture's context
    picture_frames: int = 10         # frames predicted open loop in the picture
    batch_size: int = 32             # windows per forward pass


@dataclass
class HeldOutEpisode:
    """One episode in model-input terms. frames: view -> (T, R, R, 3) uint8; state as in data.Episode."""
    name: str
    instruction: str
    frames: dict[str, np.ndarray]
    ee_position: np.ndarray          # (T, 3) metres, base_link
    ee_quaternion: np.ndarray        # (T, 4) x, y, z, w
    gripper_closure: np.ndarray      # (T,) 0 open .. 1 closed
    meta: dict


def sim_episodes(tasks: list[str], settings: list[str], episodes: int, first_seed: int, views: tuple[str, ...],
                 resolution: int, keep_idle: bool, crops: dict | None = None):
    """Scripted-expert episodes at seeds first_seed.. per task and setting, as the dataset generator
    records them."""
    import yaml

    from gr2_contract.config import config_dir
    from gr2_drivers.sim.dataset import RecordConfig, record_episode
    from gr2_drivers.sim.world import World, load_sim_config
    from gr2_policy.model_input import gripper_closure, prepare_frames

    sim = yaml.safe_load((config_dir() / "sim.yaml").read_text())["/**"]["ros__parameters"]
    cfg = RecordConfig(width=int(sim["image_width"]), height=int(sim["image_height"]), drop_idle=not keep_idle)
    stream = {"head_camera": "head_rgb", "wrist_camera": "wrist_rgb"}
    world = World(load_sim_config())
    for task, setting in ((t, s) for t in tasks for s in settings):
        for seed in range(first_seed, first_seed + episodes):
            meta, st = record_episode(world, task, setting, seed, cfg)
            ee = np.asarray(st["ee_pose"], np.float32)
            yield HeldOutEpisode(
                name=f"{task}/{setting}/{seed}", instruction=meta["instruction"],
                frames={v: prepare_frames(st[stream[v]], resolution, (crops or {}).get(v)) for v in views},
                ee_position=ee[:, :3], ee_quaternion=ee[:, 3:], gripper_closure=gripper_closure(st["gripper"]),
                meta={"task": task, "setting": setting, "seed": seed, "expert_success": meta["success"],
                      "frames": meta["frames"], "recorded_frames": meta["recorded_frames"]})


def folder_episodes(folder: str, episodes: int, views: tuple[str, ...], resolution: int, crops: dict | None = None):
    """The first `episodes` episodes of a dataset folder (data.open_episodes)."""
    from gr2_policy.data import open_episodes
    reader = open_episodes(folder, views, resolution, crops)
    for i in range(min(episodes, len(reader))):
        ep = reader[i]
        closure = ep.gripper_closure if ep.gripper_closure is not None else np.zeros(ep.length, np.float32)
        yield HeldOutEpisode(name=f"{folder}#{i}", instruction=ep.instruction, frames=ep.frames,
                             ee_position=ep.ee_position, ee_quaternion=ep.ee_quaternion,
                             gripper_closure=closure, meta={"folder": folder, "index": i, "frames": ep.length})


def decode(model, ids: torch.Tensor) -> np.ndarray:
    """(..., n_img) token ids -> (..., R, R, 3) uint8 frames through the policy's VQGAN."""
    from gr2_policy.policy import tensor_to_frames
    g = model.config.vqgan.grid
    flat = ids.reshape(-1, g, g).to(next(model.parameters()).device)
    out = np.concatenate([tensor_to_frames(model.vqgan.decode(chunk).float()) for chunk in flat.split(64)])
    return out.reshape(*ids.shape[:-1], *out.shape[1:])


def evaluate_episode(model, text_encoder, ep: HeldOutEpisode, cfg: BenchConfig, picture: bool) -> tuple[dict, dict]:
    """Metrics of one episode (the JSON row) and, when `picture`, its frames for the figure."""
    from gr2_policy.policy import frames_to_tensor
    from gr2_policy.video_metrics import (
        EpisodeTokens,
        frame_mse,
        open_loop_rollout,
        predict_next_frames,
        psnr_db,
        token_accuracy,
    )
    c = model.config
    dev = next(model.parameters()).device
    real = np.stack([ep.frames[v] for v in c.views], 1)                          # T, V, R, R, 3
    T = real.shape[0]
    with torch.no_grad():
        x = frames_to_tensor(real.reshape(-1, *real.shape[2:]))
        ids = torch.cat([model.vqgan.encode(chunk.to(dev)).flatten(1).cpu() for chunk in x.split(64)])
    tokens = ids.view(T, len(c.views), c.n_img)
    recon = decode(model, tokens)                                                # T, V, R, R, 3
    et = EpisodeTokens(tokens=tokens, state_pos=torch.as_tensor(ep.ee_position, dtype=torch.float32),
                       state_quat=torch.as_tensor(ep.ee_quaternion, dtype=torch.float32),
                       gripper_closure=torch.as_tensor(ep.gripper_closure, dtype=torch.float32),
                       text=text_encoder.encode(ep.instruction))
    pred = predict_next_frames(model, et, cfg.batch_size)
    gen = decode(model, pred.generated)                                          # T-1, V, R, R, 3
    starts = list(range(1, T - cfg.horizon, cfg.starts_every))
    roll = open_loop_rollout(model, et, starts, cfg.horizon) if starts else None
    roll_frames = decode(model, roll) if roll is not None else None              # B, H, V, R, R, 3
    row = {"name": ep.name, "instruction": ep.instruction, "frames": T, **ep.meta, "views": {}}
    for v, view in enumerate(c.views):
        target, prev = pred.target[:, v], pred.previous[:, v]
        changed = target != prev
        m = {"tokens_changed_fraction": float(changed.float().mean()),
             "nll_teacher_forced": float(pred.nll[:, v].mean()),
             "token_acc_teacher_forced": token_accuracy(pred.teacher_forced[:, v], target),
             "token_acc_generated": token_accuracy(pred.generated[:, v], target),
             "token_acc_copy_last": token_accuracy(prev, target),
             "changed_token_acc_teacher_forced": token_accuracy(pred.teacher_forced[:, v], target, changed),
             "changed_token_acc_generated": token_accuracy(pred.generated[:, v], target, changed),
             "psnr_vs_recon_generated": psnr_db(frame_mse(gen[:, v], recon[1:, v])),
             "psnr_vs_recon_copy_last": psnr_db(frame_mse(recon[:-1, v], recon[1:, v])),
             "psnr_vs_real_generated": psnr_db(frame_mse(gen[:, v], real[1:, v])),
             "psnr_vs_real_copy_last": psnr_db(frame_mse(recon[:-1, v], real[1:, v])),
             "psnr_vs_real_copy_last_real_frame": psnr_db(frame_mse(real[:-1, v], real[1:, v])),
             "psnr_vs_real_vqgan_ceiling": psnr_db(frame_mse(recon[1:, v], real[1:, v]))}
        if roll is not None:
            s = np.asarray(starts)
            ks = range(cfg.horizon)
            nxt = s[:, None] + np.arange(1, cfg.horizon + 1)[None]                # B, H frame indices
            pred_frames = [roll_frames[:, k, v] for k in ks]
            m["open_loop"] = {
                "starts": len(starts),
                "token_acc": [token_accuracy(roll[:, k, v], tokens[nxt[:, k], v]) for k in ks],
                "token_acc_copy_last": [token_accuracy(tokens[s, v], tokens[nxt[:, k], v]) for k in ks],
                "psnr_vs_real": [psnr_db(frame_mse(pred_frames[k], real[nxt[:, k], v])) for k in ks],
                "psnr_vs_real_copy_last": [psnr_db(frame_mse(recon[s, v], real[nxt[:, k], v])) for k in ks],
                "psnr_vs_recon": [psnr_db(frame_mse(pred_frames[k], recon[nxt[:, k], v])) for k in ks],
                "psnr_vs_recon_copy_last": [psnr_db(frame_mse(recon[s, v], recon[nxt[:, k], v])) for k in ks]}
        row["views"][view] = m
    figure = {}
    if picture:
        s0 = min(cfg.picture_start, T - 2)
        n = min(cfg.picture_frames, T - 1 - s0)
        pic = decode(model, open_loop_rollout(model, et, [s0], n))[0]            # n, V, R, R, 3
        figure = {"name": ep.name, "instruction": ep.instruction, "start": s0,
                  "real": real[s0:s0 + n + 1], "pred": np.concatenate([real[s0:s0 + 1], pic])}
    return row, figure


# (model metric, its copy-last baseline) compared per episode in the summary
PAIRS = (("token_acc_teacher_forced", "token_acc_copy_last"), ("token_acc_generated", "token_acc_copy_last"),
         ("psnr_vs_recon_generated", "psnr_vs_recon_copy_last"), ("psnr_vs_real_generated", "psnr_vs_real_copy_last"),
         ("psnr_vs_real_generated", "psnr_vs_real_copy_last_real_frame"))


def summarise(rows: list[dict], views: tuple[str, ...], horizon: int) -> dict:
    """Per view: every scalar metric as mean and 95% interval over episodes; open-loop per horizon."""
    from gr2_policy.video_metrics import mean_ci95
    out = {}
    for view in views:
        ms = [r["views"][view] for r in rows]
        s = {k: mean_ci95([m[k] for m in ms]) for k, val in ms[0].items() if isinstance(val, float)}
        # model minus copy-last on the same episodes: the paired interval is the one that says
        # whether the model beats the baseline (the episodes' spread cancels)
        s["paired_model_minus_copy_last"] = {
            f"{model_key}-{base_key}": mean_ci95([m[model_key] - m[base_key] for m in ms])
            for model_key, base_key in PAIRS}
        loops = [m["open_loop"] for m in ms if "open_loop" in m]
        if loops:
            s["open_loop"] = {k: [mean_ci95([lp[k][i] for lp in loops]) for i in range(horizon)]
                              for k in loops[0] if k != "starts"}
        out[view] = s
    return out


def summarise_by(rows: list[dict], key: str, views: tuple[str, ...], horizon: int) -> dict:
    """Value of `key` ('task', 'setting') -> `summarise` of those rows (sim episodes carry both;
    folder episodes count as '-')."""
    groups = dict.fromkeys(r.get(key, "-") for r in rows)
    return {g: summarise([r for r in rows if r.get(key, "-") == g], views, horizon) for g in groups}


def print_group_table(groups: dict, key: str) -> None:
    """Per group (task or setting) and view: teacher-forced token accuracy and the generated frame's
    PSNR against the real input, each beside its copy-last baseline (means over the episodes)."""
    views = list(next(iter(groups.values())))
    print(f"\n| {key} | " + " | ".join(f"{v}: token acc TF / copy last | {v}: PSNR generated / copy last real "
                                     "frame (dB)" for v in views) + " |")
    print("|---|" + "---|---|" * len(views))
    for group, summary in groups.items():
        cells = []
        for v in views:
            s = summary[v]
            cells.append(f"{s['token_acc_teacher_forced']['mean']:.3f} / {s['token_acc_copy_last']['mean']:.3f}")
            cells.append(f"{s['psnr_vs_real_generated']['mean']:.2f} / "
                         f"{s['psnr_vs_real_copy_last_real_frame']['mean']:.2f}")
        print(f"| {group} (n={summary[views[0]]['token_acc_copy_last']['n']}) | " + " | ".join(cells) + " |")


def draw(figures: list[dict], views: tuple[str, ...], path: Path) -> None:
    """Per episode and view: the real frames (top) and the open-loop predicted frames (below)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = max(len(f["real"]) for f in figures)
    per_episode = len(views) * 2
    band = 0.35                                   # inches of the figure title's own row
    episode_h = 1.0 * per_episode + 0.5
    fig = plt.figure(figsize=(0.95 * cols + 0.7, episode_h * len(figures) + band))
    # subfigures: the title and each episode's caption get their own band instead of overlapping rows
    head, *subs = fig.subfigures(len(figures) + 1, 1, height_ratios=[band] + [episode_h] * len(figures))
    head.suptitle("GR-2 open-loop video prediction (pred) vs the real held-out episode (real); "
                  "column 0 is the last real context frame", fontsize=9, y=0.6)
    for sub, f in zip(subs, figures, strict=True):
        sub.suptitle(f"{f['name']}: \"{f['instruction']}\" (open loop from frame {f['start']})", fontsize=8)
        axes = sub.subplots(per_episode, cols, squeeze=False)
        sub.subplots_adjust(left=0.7 / fig.get_figwidth(), right=0.995, bottom=0.01, top=0.9,
                            wspace=0.04, hspace=0.25)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
        r = 0
        for v, view in enumerate(views):
            for label, frames in (("real", f["real"]), ("pred", f["pred"])):
                for j in range(len(frames)):
                    axes[r, j].imshow(frames[j, v], interpolation="nearest")
                    if r == 0:
                        axes[r, j].set_title("context t" if j == 0 else f"t+{j}", fontsize=7)
                axes[r, 0].set_ylabel(f"{view.split('_')[0]}\n{label}", fontsize=7)
                r += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clean(x):
    """`x` with NaN and infinite floats as None: strict JSON has neither."""
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _fmt(s: dict, digits: int = 3) -> str:
    if s["mean"] is None:
        return "-"
    return f"{s['mean']:.{digits}f} [{s['ci95'][0]:.{digits}f}, {s['ci95'][1]:.{digits}f}]"


def print_tables(summary: dict, horizon: int) -> None:
    """The markdown tables of the README: one-step metrics per view, then open loop per horizon."""
    print("| view | token acc: teacher-forced | token acc: generated | token acc: copy last | "
          "changed-token acc: TF / generated | PSNR vs VQGAN recon: generated / copy last (dB) | "
          "PSNR vs real input: generated / copy last / copy last real frame / VQGAN ceiling (dB) |")
    print("|---|---|---|---|---|---|---|")
    for view, s in summary.items():
        print(f"| {view} | {_fmt(s['token_acc_teacher_forced'])} | {_fmt(s['token_acc_generated'])} | "
              f"{_fmt(s['token_acc_copy_last'])} | {_fmt(s['changed_token_acc_teacher_forced'])} / "
              f"{_fmt(s['changed_token_acc_generated'])} | {_fmt(s['psnr_vs_recon_generated'], 2)} / "
              f"{_fmt(s['psnr_vs_recon_copy_last'], 2)} | {_fmt(s['psnr_vs_real_generated'], 2)} / "
              f"{_fmt(s['psnr_vs_real_copy_last'], 2)} / {_fmt(s['psnr_vs_real_copy_last_real_frame'], 2)} / "
              f"{_fmt(s['psnr_vs_real_vqgan_ceiling'], 2)} |")
    print("\npaired over episodes, model minus copy last (mean [95% interval])")
    print("| view | " + " | ".join(f"{a} - {b}" for a, b in PAIRS) + " |")
    print("|---|" + "---|" * len(PAIRS))
    for view, s in summary.items():
        print(f"| {view} | " + " | ".join(_fmt(d, 3) for d in s["paired_model_minus_copy_last"].values()) + " |")
    for view, s in summary.items():
        if "open_loop" not in s:
            continue
        lp = s["open_loop"]
        print(f"\nopen loop, {view}: PSNR vs real input (dB), model / copy last; token acc model / copy last")
        print("| horizon | " + " | ".join(f"t+{k + 1}" for k in range(horizon)) + " |")
        print("|---|" + "---|" * horizon)
        print("| PSNR | " + " | ".join(f"{a['mean']:.2f} / {b['mean']:.2f}" for a, b in
                                     zip(lp["psnr_vs_real"], lp["psnr_vs_real_copy_last"], strict=True)) + " |")
        print("| token acc | " + " | ".join(f"{a['mean']:.3f} / {b['mean']:.3f}" for a, b in
                                          zip(lp["token_acc"], lp["token_acc_copy_last"], strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="package://gr2_policy/checkpoints/pick_cube")
    p.add_argument("--tasks", "--task", nargs="+", default=["pick_cube"],
                   help="task name(s) of gr2_drivers.sim.tasks.TASKS, or 'all'")
    p.add_argument("--settings", nargs="+", default=["simple", "distractor"])
    p.add_argument("--episodes", type=int, default=5, help="per setting (sim) or in all (--episodes-dir)")
    p.add_argument("--first-seed", type=int, default=None, help="default: gr2_drivers.sim.tasks.EVAL_FIRST_SEED")
    p.add_argument("--episodes-dir", default=None, help="read episodes from this dataset folder instead of the sim")
    p.add_argument("--keep-idle", action="store_true", help="keep the frames in which nothing moves (sim episodes)")
    p.add_argument("--horizon", type=int, default=BenchConfig.horizon)
    p.add_argument("--starts-every", type=int, default=BenchConfig.starts_every)
    p.add_argument("--picture-episodes", type=int, default=BenchConfig.picture_episodes)
    p.add_argument("--picture-start", type=int, default=BenchConfig.picture_start)
    p.add_argument("--picture-frames", type=int, default=BenchConfig.picture_frames)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(RESULTS / "video_prediction.json"))
    p.add_argument("--png", default=str(RESULTS / "video_prediction.png"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = BenchConfig(horizon=args.horizon, starts_every=args.starts_every, picture_episodes=args.picture_episodes,
                      picture_start=args.picture_start, picture_frames=args.picture_frames)

    from gr2_policy.checkpoint import fingerprint, load_policy
    from gr2_policy.text_encoder import load_text_encoder

    t0 = time.monotonic()
    model, meta = load_policy(args.checkpoint)
    text_encoder = load_text_encoder(model.config.text)
    if meta["text_encoder"] != text_encoder.identity:
        raise SystemExit(f"checkpoint text encoder {meta['text_encoder']} is not the loaded {text_encoder.identity}")
    model.eval().to(args.device)
    c = model.config
    if args.episodes_dir:
        source = folder_episodes(args.episodes_dir, args.episodes, c.views, c.vqgan.resolution, c.view_crops)
        origin = {"episodes_dir": args.episodes_dir}
    else:
        from gr2_drivers.sim.tasks import EVAL_FIRST_SEED, TASKS
        tasks = list(TASKS) if args.tasks == ["all"] else args.tasks
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown:
            p.error(f"unknown task(s) {unknown}; known: {sorted(TASKS)} or 'all'")
        first = EVAL_FIRST_SEED if args.first_seed is None else args.first_seed
        if first < EVAL_FIRST_SEED:
            p.error(f"--first-seed {first} is below EVAL_FIRST_SEED {EVAL_FIRST_SEED}: those layouts are training data")
        source = sim_episodes(tasks, args.settings, args.episodes, first, c.views, c.vqgan.resolution,
                              args.keep_idle, c.view_crops)
        origin = {"sim": {"tasks": tasks, "settings": args.settings, "first_seed": first,
                          "episodes_per_setting": args.episodes, "expert": "scripted, no DART noise",
                          "idle_frames_dropped": not args.keep_idle}}
    rows, figures, pictured = [], [], set()
    for ep in source:
        t1 = time.monotonic()
        # the picture shows the first episode of each task and setting (sim), else the first episodes
        key = (ep.meta["task"], ep.meta["setting"]) if "setting" in ep.meta else ep.name
        picture = len(figures) < cfg.picture_episodes and key not in pictured
        pictured.add(key)
        row, fig = evaluate_episode(model, text_encoder, ep, cfg, picture=picture)
        row["wall_s"] = round(time.monotonic() - t1, 1)
        rows.append(row)
        if fig:
            figures.append(fig)
        print(f"{ep.name}: {row['frames']} frames, {row['wall_s']} s", flush=True)
    if not rows:
        raise SystemExit("no episodes to evaluate")
    summary = summarise(rows, c.views, cfg.horizon)
    per_task = summarise_by(rows, "task", c.views, cfg.horizon)
    per_setting = summarise_by(rows, "setting", c.views, cfg.horizon)
    doc = {"benchmark": "predicted-video quality on held-out episodes (teacher-forced next frame, open loop)",
           "command": " ".join(["python", "bench/video_prediction.py",
                                *(argv if argv is not None else sys.argv[1:])]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "checkpoint": fingerprint(args.checkpoint),
           "model": {"name": c.name, "n_obs_steps": c.n_obs_steps, "views": list(c.views),
                     "resolution": c.vqgan.resolution, "token_grid": c.vqgan.grid,
                     "codebook_size": c.vqgan.codebook_size},
           "episodes": origin, "config": asdict(cfg), "threads": args.threads, "device": args.device,
           "definitions": {
               "token_acc_teacher_forced": "next-frame token argmax == real token, every earlier token of the "
                                           "frame real",
               "nll_teacher_forced": "cross-entropy of the real next-frame tokens, nats per token (the training "
                                     "loss's 'video' term, on the predicted step of the window only)",
               "token_acc_generated": "greedily generated whole next frame (GR2.generate_frame) == real tokens",
               "copy_last": "frame t's tokens (decoded: its VQGAN reconstruction) as the prediction of frame t+1",
               "changed_token_acc": "accuracy over the tokens that differ between frames t and t+1 (copy last: 0)",
               "copy_last_real_frame": "the real frame t itself as the prediction of frame t+1 (pixels, no "
                                       "tokenizer: a baseline any decoded prediction has the VQGAN's loss against)",
               "psnr_vs_recon": "decoded frame vs the VQGAN reconstruction of the real next frame",
               "psnr_vs_real": "decoded frame vs the real next frame as the model input (prepare_frame, "
                               f"{c.vqgan.resolution} px)",
               "psnr": "8-bit, 10 log10(255^2 / MSE), MSE pooled over an episode's frames; mean over episodes "
                       "with a 95% Student-t interval",
               "open_loop": "from the real context ending at frame s, frames s+1..s+horizon generated each from "
                            "the model's own earlier frames (real robot state); copy last holds frame s"},
           "summary": summary, "summary_per_task": per_task,
           "summary_per_setting": per_setting, "episodes_evaluated": len(rows), "rows": rows,
           "wall_s": round(time.monotonic() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(_clean(doc), indent=1) + "\n")
    if figures and args.png:
        draw(figures, c.views, Path(args.png))
    print_tables(summary, cfg.horizon)
    for key, groups in (("task", per_task), ("setting", per_setting)):
        if len(groups) > 1:
            print_group_table(groups, key)
    print(f"wrote {args.out}" + (f" and {args.png}" if figures and args.png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
