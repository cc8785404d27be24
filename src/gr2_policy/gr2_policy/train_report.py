"""Training log summary of one or more runs: the TensorBoard scalars as JSON and a loss plot.

    python -m gr2_policy.train_report runs/pick_cube/finetune runs/pick_cube/finetune_dagger1 \\
        --out src/gr2_policy/checkpoints/pick_cube

Reads every run's `tb/` event files (tensorboard's EventAccumulator), writes `training.json`
(per run: every scalar as [step, value] pairs, thinned to at most `--points` per scalar, plus the
final values and the wall time between the first and last event) and `training.png` (action L1
and video cross-entropy, train and validation, the action L1 decoded from the prior z = 0 as at
inference where logged, and the learning rate, against the step). Runs are chained step after step
(a recipe's stages), or with --side-by-side drawn on one step axis (variants of one experiment, e.g.
the pre-training ablation). `--before FILE` puts the runs of an earlier training.json first: a shipped
checkpoint's summary grows by its new stages when the earlier stages' event files are gone.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def read_scalars(run: Path) -> dict[str, list[tuple[int, float, float]]]:
    """tag -> [(step, value, wall_time)] from the run's TensorBoard folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tb = run / "tb"
    if not tb.is_dir():
        raise FileNotFoundError(f"{tb} not found (a training run folder has tb/)")
    acc = EventAccumulator(str(tb), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def summarise_run(run: Path, points: int = 200) -> dict:
    """The TensorBoard scalars of training run folder `run`, thinned to about `points` per tag (the
    last point always kept), with the final value of each tag and the wall time (s) the run took."""
    scalars = read_scalars(run)
    out = {"run": str(run), "scalars": {}, "final": {}}
    walls = []
    for tag, rows in scalars.items():
        every = max(1, len(rows) // points)
        out["scalars"][tag] = [[s, round(v, 6)] for s, v, _ in rows[::every]] + (
            [[rows[-1][0], round(rows[-1][1], 6)]] if (len(rows) - 1) % every else [])
        out["final"][tag] = round(rows[-1][1], 6)
        walls += [rows[0][2], rows[-1][2]]
    out["wall_s"] = round(max(walls) - min(walls), 1) if walls else None
    return out


def run_stage(scalars: dict) -> str:
    """'pretrain' or 'finetune': the training stage whose tags (STAGE/..., STAGE_val/...) a run logged."""
    return "pretrain" if any(t.startswith("pretrain/") for t in scalars) else "finetune"


def step_offsets(summaries: list[dict], chained: bool = True) -> list[int]:
    """The step at which each run starts on the plot's axis: after the previous run's last step when
    `chained` (a recipe's stages), 0 for every run otherwise (variants of one experiment)."""
    offsets, offset = [], 0
    for s in summaries:
        offsets.append(offset)
        steps = [p[0] for tag in s["scalars"].values() for p in tag]
        offset += max(steps) if steps and chained else 0
    return offsets


def plot(summaries: list[dict], path: Path, chained: bool = True) -> None:
    """Plot the runs' action L1, video loss and learning rate to `path`: steps chained run after run,
    or every run from step 0 when not `chained`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    colours = plt.get_cmap("tab20")
    xlabel = "step (runs chained)" if chained else "step"
    # one colour per run in every panel, one legend (runs) beside the figure: thin lines are the
    # training loss, dots validation, squares validation with the prior's z = 0 (what inference gets)
    for i, (s, offset) in enumerate(zip(summaries, step_offsets(summaries, chained), strict=True)):
        name = Path(s["run"]).name
        colour = colours(i % 20)
        sc = s["scalars"]
        stage = run_stage(sc)
        panels = [(f"{stage}/action_l1", f"{stage}_val/action_l1", "action L1 (normalised chunk)"),
                  (f"{stage}/video", f"{stage}_val/video", "video cross-entropy (next-frame tokens)")]
        for ax, (train_tag, val_tag, title) in zip(axes[:2], panels, strict=False):
            if stage == "pretrain" and "action" in train_tag:     # action-free: the action terms are 0
                continue
            if train_tag in sc:
                st, v = zip(*sc[train_tag], strict=False)
                ax.plot([x + offset for x in st], v, lw=0.6, alpha=0.4, color=colour)
            if val_tag in sc:
                st, v = zip(*sc[val_tag], strict=False)
                ax.plot([x + offset for x in st], v, "o-", ms=3, color=colour)
            ax.set_title(title + "\nthin: train, dots: validation")
            ax.set_xlabel(xlabel)
        if stage == "finetune" and "finetune_val/action_l1_prior" in sc:
            st, v = zip(*sc["finetune_val/action_l1_prior"], strict=False)
            axes[0].plot([x + offset for x in st], v, "s--", ms=3, color=colour)
        if f"{stage}/lr" in sc:
            st, v = zip(*sc[f"{stage}/lr"], strict=False)
            axes[2].plot([x + offset for x in st], v, color=colour, label=name)
            axes[2].set_title("learning rate")
            axes[2].set_xlabel(xlabel)
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[2].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    axes[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Write training.json and training.png of the given run folders into --out; returns 0."""
    p = argparse.ArgumentParser(prog="python -m gr2_policy.train_report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="training run folders, in training order")
    p.add_argument("--out", type=Path, required=True, help="folder for training.json and training.png")
    p.add_argument("--points", type=int, default=200)
    p.add_argument("--side-by-side", action="store_true",
                   help="runs are variants of one experiment: one step axis, not chained")
    p.add_argument("--before", type=Path, help="a training.json whose runs come before these (earlier stages)")
    args = p.parse_args(argv)
    earlier = json.loads(args.before.read_text())["runs"] if args.before else []
    summaries = earlier + [summarise_run(r, args.points) for r in args.runs]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training.json").write_text(json.dumps({"runs": summaries}, indent=1) + "\n")
    plot(summaries, args.out / "training.png", chained=not args.side_by_side)
    for s in summaries[len(earlier):]:
        f = s["final"]
        stage = run_stage(s["scalars"])
        print(f"{s['run']}: {s['wall_s']} s; final " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(f.items())
                                                            if k.startswith((f"{stage}/", f"{stage}_val/"))))
    print(f"wrote {args.out / 'training.json'} and {args.out / 'training.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
