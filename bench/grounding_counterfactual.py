"""Does a pick_cube policy lift the wrong cube because of its colour or because of where it is?
The failed `distractor` episodes of an evaluator run, replayed with the scene recoloured.

    python bench/grounding_counterfactual.py --runs bench/results/eval.json@f43be2c9003f6f20 \\
        --checkpoint package://gr2_policy/checkpoints/pick_cube --out bench/results/grounding_counterfactual.json

For every held-out seed in `--runs` where the checkpoint lifted an object that is not the named
cube (obj0), the episode runs again in the in-process evaluator (`gr2_bringup.evaluate`, same
runner and seeds, the inference delay and chunk switch lead the runs recorded) under three
conditions of the same layout, instruction unchanged:

- `original`: as evaluated (whether the failure reproduces);
- `recoloured`: the wrongly lifted object painted a colour far from the target's (not a
  neighbouring hue, `gr2_drivers.sim.tasks.NEIGHBOUR_HUES`, and not in the scene where one is
  free);
- `swapped`: the target's and the wrongly lifted object's colours exchanged: the named colour now
  sits where the policy went.

Reading: if `recoloured` lifts the target, the wrong lift was the other object's hue being taken
for the named one (colour read, neighbouring hues confused); if it still lifts the same object,
the policy goes there whatever its colour (a bias of position or layout, not colour). `swapped`
tells whether it goes where the named colour is: lifting the same physical object as before is
what a colour-reading policy does here, lifting the target (now painted the other hue) is what a
position bias does.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS = ("original", "recoloured", "swapped")
_RUNNER = None


def failed_seeds(items: list[str]) -> tuple[dict[tuple[float, float], dict[int, str]], str]:
    """The distractor episodes in `items` ('path' or 'path@sha', in-process runs) that lifted
    something other than obj0, as {(inference delay, chunk switch lead) in s the run modelled:
    {seed: the wrongly lifted object}} (an episode depends on both), and the checkpoint sha256 the
    runs share. ValueError when the runs are of several checkpoints or hold none."""
    out: dict[tuple[float, float], dict[int, str]] = {}
    shas = set()
    for item in items:
        path, _, sha = item.partition("@")
        runs = [r for r in json.loads(Path(path).read_text())["runs"]
                if (not sha or r["checkpoint"].get("sha256") == sha) and r.get("evaluator") == "in_process"]
        if not runs:
            raise ValueError(f"{path} has no in-process run of checkpoint {sha or '(any)'}")
        for r in runs:
            shas.add(r["checkpoint"].get("sha256"))
            group = out.setdefault((r["settings"]["delay_s"], r["settings"]["switch_lead_s"]), {})
            for e in r["episodes"]:
                wrong = [o for o in e.get("extra", {}).get("lifted_objects", []) if o != "obj0"]
                if e["task"] == "pick_cube" and e["setting"] == "distractor" and wrong:
                    group[e["seed"]] = wrong[0]
    if len(shas) != 1:
        raise ValueError(f"the runs are of {len(shas)} checkpoints; give one with path@sha256")
    return out, shas.pop()


def far_colour(target: str, used: list[str]) -> str:
    """A colour of `COLORS` that is neither the target's nor a neighbouring hue of it, preferring
    one no object in the scene has."""
    from gr2_drivers.sim.tasks import COLORS, NEIGHBOUR_HUES
    far = [c for c in COLORS if c != target and frozenset({target, c}) not in NEIGHBOUR_HUES]
    free = [c for c in far if c not in used]
    return (free or far)[0]


def edit(condition: str, wrong: str):
    """The `edit_scene` of `condition` for an episode whose wrongly lifted object is `wrong`;
    it records the colours it set on the function (`edit.colours`)."""
    def apply(world, instruction: str) -> str:
        from gr2_drivers.sim.tasks import COLORS, object_colours, set_body_rgb
        colours = object_colours(world.task)
        target = colours["obj0"]
        if condition == "recoloured":
            colours[wrong] = far_colour(target, list(colours.values()))
        elif condition == "swapped":
            colours["obj0"], colours[wrong] = colours[wrong], target
        for body in ("obj0", wrong):
            set_body_rgb(world, body, COLORS[colours[body]])
        apply.colours = {"obj0": colours["obj0"], wrong: colours[wrong]}
        return instruction
    apply.colours = {}
    return apply


def _init(runner_args: dict, threads: int) -> None:
    import torch

    from gr2_bringup.evaluate import build_runner
    global _RUNNER
    torch.set_num_threads(threads)
    _RUNNER = build_runner(**runner_args)[0]


def _run(job: tuple[int, str, str]) -> dict:
    seed, wrong, condition = job
    scene = edit(condition, wrong)
    r = _RUNNER.run("pick_cube", "distractor", seed, edit_scene=None if condition == "original" else scene)
    lifted = r.extra["lifted_objects"]
    return {"seed": seed, "condition": condition, "wrong_before": wrong, "colours": scene.colours,
            "instruction": r.instruction, "lifted_objects": lifted, "lifted_target": "obj0" in lifted,
            "lifted_wrong_before": wrong in lifted, "success": r.success}


def summarise(rows: list[dict]) -> dict:
    """Per condition: episodes, those lifting the target, the previously wrong object, another
    object, nothing."""
    out = {}
    for cond in CONDITIONS:
        rs = [r for r in rows if r["condition"] == cond]
        out[cond] = {"episodes": len(rs), "lifted_target": sum(r["lifted_target"] for r in rs),
                     "lifted_wrong_before": sum(r["lifted_wrong_before"] for r in rs),
                     "lifted_other": sum(bool(set(r["lifted_objects"]) - {"obj0", r["wrong_before"]}) for r in rs),
                     "lifted_nothing": sum(not r["lifted_objects"] for r in rs)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="evaluator JSONs, path or path@sha256")
    p.add_argument("--checkpoint", default="package://gr2_policy/checkpoints/pick_cube",
                   help="the checkpoint the runs evaluated (its fingerprint is checked)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument("--limit", type=int, default=0, help="first N failed seeds only (0: all)")
    p.add_argument("--out", default=str(ROOT / "bench/results/grounding_counterfactual.json"))
    args = p.parse_args(argv)
    from gr2_policy.checkpoint import fingerprint as checkpoint_fingerprint

    groups, sha = failed_seeds(args.runs)
    fingerprint = checkpoint_fingerprint(args.checkpoint)
    if fingerprint["sha256"] != sha:
        raise SystemExit(f"--checkpoint {args.checkpoint} is {fingerprint['sha256']}, the runs are of {sha}")
    items = sorted((seed, wrong, delays) for delays, seeds in groups.items() for seed, wrong in seeds.items())
    items = items[:args.limit or None]
    print(f"[counterfactual] {len(items)} failed seeds x {len(CONDITIONS)} conditions = "
          f"{len(items) * len(CONDITIONS)} episodes, {args.jobs} processes", flush=True)
    t0 = time.monotonic()
    import multiprocessing as mp

    from tqdm import tqdm
    rows = []
    bar = tqdm(total=len(items) * len(CONDITIONS), desc="episodes")
    for delay, lead in sorted({d for _, _, d in items}):
        # a pool per modelled delay: the runner (its controller's switch lead) is built with it
        runner_args = {"checkpoint": args.checkpoint, "untrained_preset": "", "task": "pick_cube",
                       "max_time": 15.0, "delay": str(delay), "switch_lead": str(lead)}
        jobs = [(seed, wrong, cond) for seed, wrong, d in items if d == (delay, lead) for cond in CONDITIONS]
        pool = mp.get_context("spawn").Pool(args.jobs, initializer=_init, initargs=(runner_args, 1))
        done = 0
        try:
            for r in pool.imap(_run, jobs):
                rows.append(r | {"delay_s": delay, "switch_lead_s": lead})
                done += 1
                bar.update(1)
            pool.close()     # workers exit on their own (terminating them leaks their semaphores)
        finally:
            if done < len(jobs):   # an episode raised: stop the others
                pool.terminate()
            pool.join()
    bar.close()
    summary = summarise(rows)
    for cond, s in summary.items():
        print(f"  {cond:<11} {s['episodes']:>3} episodes: target {s['lifted_target']:>3}, the object lifted "
              f"before {s['lifted_wrong_before']:>3}, another {s['lifted_other']:>3}, nothing {s['lifted_nothing']:>3}")
    kinds = Counter()
    for seed, _, _ in items:
        by = {r["condition"]: r for r in rows if r["seed"] == seed}
        kinds[("colour" if by["recoloured"]["lifted_target"] and not by["recoloured"]["lifted_wrong_before"]
               else "position" if by["recoloured"]["lifted_wrong_before"] else "other")] += 1
    print(f"  recolouring the wrongly lifted object: target lifted in {kinds['colour']} seeds (its hue was the "
          f"cause), same object again in {kinds['position']} (not its hue), other {kinds['other']}")
    given = sys.argv[1:] if argv is None else argv
    doc = {"command": " ".join(["python", "bench/grounding_counterfactual.py", *given]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "checkpoint": fingerprint, "runs": args.runs,
           "duration_s": round(time.monotonic() - t0, 1), "summary": summary, "seeds_by_cause": dict(kinds),
           "episodes": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(f"[counterfactual] wrote {args.out} ({doc['duration_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
