"""Closed-loop evaluation results: per-episode records, the summary table both evaluators print,
and `bench/results/eval.json`; `python -m gr2_bringup.eval_report NAME=FILE ...` puts several
checkpoints' results side by side (e.g. the pre-training ablation).

Both evaluators (`gr2_bringup.evaluate`, in-process lockstep; `gr2_bringup.evaluate_graph`,
the node graph over DDS) produce `EpisodeResult`s and call `summarise` / `format_table` /
`write_results`, so their tables and JSON entries have one format. Rates carry Wilson score 95%
intervals (Wilson 1927; the usual choice for a binomial rate at small n, never outside 0..1).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

Z95 = 1.959963984540054   # two-sided 95% normal quantile


@dataclass
class EpisodeResult:
    """One closed-loop episode. `lifted` / `lifted_target`: an object was lifted at all / the one
    the instruction named (colour grounding is lifted_target among lifted)."""
    task: str
    setting: str
    seed: int
    instruction: str
    success: bool
    expert_success: bool | None = None     # the scripted expert on the same seed (None: not run)
    lifted: bool | None = None
    lifted_target: bool | None = None
    duration_s: float = 0.0                # simulated time until success or the time limit
    chunks: int = 0
    extra: dict = field(default_factory=dict)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval of a binomial rate k/n; (0, 1) for n == 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> dict:
    """Success rate k/n as a report row: counts, the rate (None for n == 0) and its 95% Wilson interval."""
    lo, hi = wilson_interval(k, n)
    return {"successes": k, "episodes": n, "rate": (k / n) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def summarise(episodes: list[EpisodeResult]) -> list[dict]:
    """One row per (task, setting, instruction) plus one per (task, setting) with instruction "all"."""
    groups: dict[tuple, list[EpisodeResult]] = {}
    for e in episodes:
        groups.setdefault((e.task, e.setting, e.instruction), []).append(e)
        groups.setdefault((e.task, e.setting, "all"), []).append(e)
    rows = []
    # task, setting, then the instructions with each task and setting's "all" row last
    def order(kv) -> tuple:
        return kv[0][0], kv[0][1], kv[0][2] == "all", kv[0][2]

    for (task, setting, instruction), eps in sorted(groups.items(), key=order):
        row = {"task": task, "setting": setting, "instruction": instruction,
               "policy": rate(sum(e.success for e in eps), len(eps))}
        with_expert = [e for e in eps if e.expert_success is not None]
        if with_expert:
            row["expert"] = rate(sum(bool(e.expert_success) for e in with_expert), len(with_expert))
        lifted = [e for e in eps if e.lifted]
        if any(e.lifted is not None for e in eps):
            row["grounding"] = rate(sum(bool(e.lifted_target) for e in lifted), len(lifted))
        rows.append(row)
    return rows


def _cell(r: dict | None) -> str:
    if r is None:
        return "-"
    if not r["episodes"]:
        return "0/0"
    lo, hi = r["ci95"]
    return f"{r['successes']}/{r['episodes']} {100 * r['rate']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}]"


def format_table(rows: list[dict]) -> str:
    """Markdown table: policy and expert success with 95% intervals, colour grounding."""
    lines = ["| task | setting | instruction | policy success [95% CI] | expert, same seeds | "
             "named cube among lifted |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['setting']} | {r['instruction']} | {_cell(r['policy'])} | "
                     f"{_cell(r.get('expert'))} | {_cell(r.get('grounding'))} |")
    return "\n".join(lines)


def seeds_by_setting(episodes: list[EpisodeResult]) -> dict[str, list[int]]:
    """setting -> the evaluation seeds run in it, in order."""
    out: dict[str, list[int]] = {}
    for e in episodes:
        out.setdefault(e.setting, []).append(int(e.seed))
    return out


def write_results(path: str | Path, evaluator: str, episodes: list[EpisodeResult], checkpoint: dict,
                  settings: dict, argv: list[str] | None = None) -> dict:
    """Add (or replace) this evaluator's entry for its task/setting pairs in the JSON file at
    `path`; entries of other evaluators, tasks and settings are kept. Returns the entry."""
    argv = sys.argv if argv is None else argv
    entry = {
        "evaluator": evaluator,
        "command": " ".join(shlex.quote(a) for a in argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "checkpoint": checkpoint,
        "seeds": seeds_by_setting(episodes),
        "settings": settings,
        "summary": summarise(episodes),
        "episodes": [asdict(e) for e in episodes],
    }
    path = Path(path)
    doc = json.loads(path.read_text()) if path.is_file() else {}
    pairs = {(e.task, e.setting) for e in episodes}
    runs, replaced = [], []
    for r in doc.get("runs", []):
        same = r.get("evaluator") == evaluator and {(e["task"], e["setting"]) for e in r.get("episodes", [])} == pairs
        (replaced if same else runs).append(r)
    for r in replaced:   # said, not silent: another checkpoint's run is gone from this file
        print(f"{path}: replaced the {evaluator} run of {r.get('date', '?')} (checkpoint "
              f"{r.get('checkpoint', {}).get('sha256', r.get('checkpoint'))}) on the same tasks and settings",
              file=sys.stderr)
    runs.append(entry)
    doc = {"about": "closed-loop evaluations on held-out seeds; written by gr2_bringup.evaluate "
                    "(in-process) and gr2_bringup.evaluate_graph (node graph)", "runs": runs}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return entry


# ---------------------------------------------------------------- side by side
def run_episodes(path: str | Path, evaluator: str = "in_process") -> tuple[list[EpisodeResult], dict]:
    """The episodes of `evaluator`'s runs in the evaluation file at `path` that evaluated the same
    checkpoint as its newest run (runs of other checkpoints are left out, said on stderr), and that
    checkpoint. ValueError when the file holds no such run."""
    doc = json.loads(Path(path).read_text())
    runs = [r for r in doc.get("runs", []) if r.get("evaluator") == evaluator]
    if not runs:
        raise ValueError(f"{path} holds no {evaluator} run")
    checkpoint = runs[-1]["checkpoint"]
    same = [r for r in runs if r["checkpoint"] == checkpoint]
    if len(same) < len(runs):
        print(f"{path}: {len(runs) - len(same)} run(s) of another checkpoint left out", file=sys.stderr)
    return [EpisodeResult(**e) for r in same for e in r["episodes"]], checkpoint


def compare(results: dict[str, list[EpisodeResult]]) -> list[dict]:
    """Rows per (task, setting) and per setting over all tasks ("all"): each named result's
    policy rate, and the scripted expert's from the first result that ran it on those seeds.
    Results that did not run a (task, setting) have None there."""
    keys = sorted({(e.task, e.setting) for eps in results.values() for e in eps})
    settings = sorted({s for _, s in keys})
    rows = []
    for task, setting in [*keys, *(("all", s) for s in settings)]:
        row = {"task": task, "setting": setting, "policy": {}, "seeds": {}}
        for name, eps in results.items():
            sel = [e for e in eps if e.setting == setting and task in ("all", e.task)]
            row["policy"][name] = rate(sum(e.success for e in sel), len(sel)) if sel else None
            row["seeds"][name] = sorted({int(e.seed) for e in sel})
            with_expert = [e for e in sel if e.expert_success is not None]
            if with_expert and "expert" not in row:
                row["expert"] = rate(sum(bool(e.expert_success) for e in with_expert), len(with_expert))
        rows.append(row)
    return rows


def format_comparison(rows: list[dict]) -> str:
    """Markdown: one column per named result, the expert last; warns in the table when the named
    results were run on different seeds."""
    names = list(rows[0]["policy"]) if rows else []
    lines = ["| task | setting | " + " | ".join(names) + " | expert, same seeds |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for r in rows:
        seeds = {tuple(v) for v in r["seeds"].values() if v}
        flag = " (different seeds!)" if len(seeds) > 1 else ""
        task = f"**{r['task']}**" if r["task"] == "all" else r["task"]
        lines.append(f"| {task} | {r['setting']}{flag} | " + " | ".join(_cell(r["policy"][n]) for n in names)
                     + f" | {_cell(r.get('expert'))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print (and with --out write) the side-by-side table of NAME=FILE evaluation files."""
    p = argparse.ArgumentParser(prog="python -m gr2_bringup.eval_report",
                                description="Closed-loop results of several checkpoints side by side.")
    p.add_argument("results", nargs="+", metavar="NAME=FILE", help="a column name and an evaluation JSON")
    p.add_argument("--evaluator", default="in_process", choices=["in_process", "node_graph"])
    p.add_argument("--out", help="write the rows, the files and their checkpoints as JSON here")
    args = p.parse_args(argv)
    results, sources = {}, {}
    for item in args.results:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            p.error(f"{item!r} is not NAME=FILE")
        if not Path(file).is_file():
            p.error(f"{file} not found")
        try:
            results[name], checkpoint = run_episodes(file, args.evaluator)
        except ValueError as e:
            p.error(str(e))
        sources[name] = {"file": file, "checkpoint": checkpoint}
    rows = compare(results)
    print(format_comparison(rows))
    if args.out:
        doc = {"command": " ".join(shlex.quote(a) for a in ["python", "-m", "gr2_bringup.eval_report",
                                                            *(sys.argv[1:] if argv is None else argv)]),
               "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "evaluator": args.evaluator,
               "sources": sources, "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
