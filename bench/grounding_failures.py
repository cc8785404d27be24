"""Where do pick_cube policies lift the wrong cube? Failures of several checkpoints on the same
held-out `distractor` seeds, against what each scene looks like.

    python bench/grounding_failures.py --runs bench/results/eval.json@f43be2c9003f6f20 \\
        bench/results/eval_stage16_seeds100050.json@f43be2c9003f6f20 ... --out bench/results/grounding_failures.json

Each `--runs` item is an evaluator JSON (`gr2_bringup.evaluate`), optionally `@<checkpoint sha256>`
to take only that checkpoint's runs; runs of one checkpoint are pooled into one candidate (the
checkpoint's fingerprint names it). For every seed that all candidates evaluated, the scene is laid
out again (`World.reset`, the evaluator's layout) and described: every coloured object's colour
(the target obj0, the task's other cube obj1, the setting's three extra objects distractor0-2:
boxes 0 and 2, a cylinder 1), whether another object has a hue neighbouring the target's
(`gr2_drivers.sim.tasks.NEIGHBOUR_HUES`; any object, and the other cube only), the target's
position (base_link xy, m), its distance to the nearest object, and the two cubes' coverage of the
64 px model input in each view at the start (pixels, through the data path's resampling); and
how similar the frozen text encoder's embeddings of the six instructions are. Each wrong lift
(`lifted_objects` of the evaluator's episode) is counted by what was lifted and whether its colour
neighbours the target's. Rows group the seeds by how many candidates failed them; if failures
were independent between candidates, seeds failed by all of them would be rare (the expected
count under independence is printed beside the measured one).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from input_visibility import coverage, geom_ids  # noqa: E402

RENDER_PX, MODEL_PX = 224, 64


def load_candidates(items: list[str]) -> dict[str, dict[int, dict]]:
    """{checkpoint sha256: {seed: episode}} of the `distractor` pick_cube episodes in `items`
    ('path' or 'path@sha'); ValueError when a file holds no matching run."""
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for item in items:
        path, _, sha = item.partition("@")
        runs = [r for r in json.loads(Path(path).read_text())["runs"]
                if not sha or r["checkpoint"].get("sha256") == sha]
        if not runs:
            raise ValueError(f"{path} has no run of checkpoint {sha or '(any)'}")
        for r in runs:
            for e in r["episodes"]:
                if e["task"] == "pick_cube" and e["setting"] == "distractor":
                    out[r["checkpoint"]["sha256"]][e["seed"]] = e
    return dict(out)


def describe_scene(world, seed: int) -> dict:
    """The layout of held-out `distractor` seed `seed`, as the evaluator lays it out."""
    from gr2_drivers.sim.tasks import neighbour_hue_any, neighbour_hue_cube, object_colours
    world.reset("pick_cube", "distractor", seed)
    task = world.task
    names = [f"obj{i}" for i in range(len(task.colors))]
    pos = [world.data.body(n).xpos[:2].copy() for n in names]
    colours = object_colours(task)
    others = [world.data.body(n).xpos[:2] for n in colours if n != "obj0"]
    row = {"seed": seed, "colours": list(task.colors), "object_colours": colours,
           "neighbour_hue": neighbour_hue_any(task), "neighbour_hue_cube": neighbour_hue_cube(task),
           "target_xy_m": [round(float(v), 4) for v in pos[0]],
           "cube_distance_m": round(float(min(np.linalg.norm(pos[0] - p) for p in pos[1:])), 4),
           "nearest_object_distance_m": round(float(min(np.linalg.norm(pos[0] - p) for p in others)), 4)}
    for view in ("head_camera", "wrist_camera"):
        ids = geom_ids(world, view, RENDER_PX, RENDER_PX)
        row[f"{view}_px"] = [round(float(coverage(ids, world.model.geom(n).id, MODEL_PX).sum()), 1) for n in names]
    return row


def instruction_similarity() -> dict:
    """Cosine similarity of the frozen text encoder's (MiniLM) embeddings of the six pick_cube
    instructions: whether the instructions themselves are hard to tell apart."""
    import torch

    from gr2_drivers.sim.tasks import COLORS
    from gr2_policy.config import TextEncoderConfig
    from gr2_policy.text_encoder import load_text_encoder
    names = list(COLORS)
    e = torch.as_tensor(load_text_encoder(TextEncoderConfig()).encode_batch(
        [f"pick up the {c} cube" for c in names])).float()
    e = torch.nn.functional.normalize(e, dim=-1)
    sim = (e @ e.T).numpy()
    off = sim[~np.eye(len(names), dtype=bool)]
    return {"colours": names, "cosine": np.round(sim, 3).tolist(),
            "min": round(float(off.min()), 3), "max": round(float(off.max()), 3)}


def wrong_lifts(candidates: dict[str, dict[int, dict]], scenes: list[dict]) -> dict:
    """Every failed episode's lifted objects, pooled over candidates: by object (obj1 = the task's
    other cube, distractor0/2 boxes, distractor1 a cylinder, 'nothing'), by whether the lifted
    colour neighbours the target's, and as 'target -> lifted' colour pairs."""
    from gr2_drivers.sim.tasks import NEIGHBOUR_HUES
    by_seed = {sc["seed"]: sc for sc in scenes}
    by_object: dict[str, int] = defaultdict(int)
    pairs: dict[str, int] = defaultdict(int)
    hue = {"neighbouring": 0, "other": 0}
    for episodes in candidates.values():
        for seed, e in episodes.items():
            if e["success"] or seed not in by_seed:
                continue
            lifted = [n for n in e.get("extra", {}).get("lifted_objects", []) if n != "obj0"]
            if not lifted:
                by_object["nothing"] += 1
                continue
            colours = by_seed[seed]["object_colours"]
            for name in lifted:
                by_object[name] += 1
                pairs[f"{colours['obj0']} -> {colours[name]}"] += 1
                hue["neighbouring" if frozenset({colours["obj0"], colours[name]}) in NEIGHBOUR_HUES else "other"] += 1
    return {"by_object": dict(sorted(by_object.items())), "by_hue": hue,
            "colour_pairs": dict(sorted(pairs.items(), key=lambda kv: -kv[1]))}


def summarise(scenes: list[dict], failed: dict[int, int], n_candidates: int, rates: list[float]) -> dict:
    """Per number of failing candidates: seeds, share with a neighbouring-hue distractor, medians
    of the target's position and the cubes' pixels; the failure rate with and without such a
    distractor; measured vs independence-expected count of seeds failed by every candidate."""
    groups = []
    for k in range(n_candidates + 1):
        sel = [s for s in scenes if failed[s["seed"]] == k]
        if not sel:
            continue
        groups.append({
            "failed_by": k, "seeds": len(sel),
            "neighbour_hue_share": round(float(np.mean([s["neighbour_hue"] for s in sel])), 3),
            "target_x_m_median": round(float(np.median([s["target_xy_m"][0] for s in sel])), 3),
            "target_abs_y_m_median": round(float(np.median([abs(s["target_xy_m"][1]) for s in sel])), 3),
            "cube_distance_m_median": round(float(np.median([s["cube_distance_m"] for s in sel])), 3),
            **{f"{v}_target_px_median": round(float(np.median([s[f"{v}_px"][0] for s in sel])), 1)
               for v in ("head_camera", "wrist_camera")},
        })
    by_hue = {}
    for key, prefix in (("neighbour_hue", ""), ("neighbour_hue_cube", "cube_only_")):
        for name, flag in (("with_neighbour_hue", True), ("without", False)):
            sel = [s for s in scenes if s[key] == flag]
            by_hue[prefix + name] = {"seeds": len(sel), "episode_failure_rate":
                                     round(sum(failed[s["seed"]] for s in sel) / max(1, n_candidates * len(sel)), 3)}
    return {"groups": groups, "by_neighbour_hue": by_hue,
            "failed_by_all": sorted(s["seed"] for s in scenes if failed[s["seed"]] == n_candidates),
            "failed_by_all_expected_if_independent": round(len(scenes) * float(np.prod(rates)), 2)}


def draw_scenes(world, seeds: list[int], candidates: dict[str, dict[int, dict]], vqgan: str, path: Path,
                scale: int = 4) -> None:
    """A PNG of `seeds` at the start: per seed, each view's model input (64 px, enlarged `scale`
    times without smoothing) beside its VQGAN reconstruction; the target outlined in white, the
    objects the candidates lifted instead in black; the caption names the colours."""
    import torch
    from PIL import Image, ImageDraw

    from gr2_drivers.sim.tasks import object_colours
    from gr2_policy.checkpoint import load_vqgan
    from gr2_policy.model_input import prepare_frame
    from gr2_policy.policy import frames_to_tensor, tensor_to_frames
    vq, _ = load_vqgan(vqgan)
    vq.eval()
    size, pad, caption = MODEL_PX * scale, 6, 30
    views = ("head_camera", "wrist_camera")
    canvas = Image.new("RGB", (4 * (size + pad), len(seeds) * (size + caption) + 20), "white")
    draw = ImageDraw.Draw(canvas)
    for j, title in enumerate(f"{v} {kind}" for v in views for kind in ("input", "VQGAN reconstruction")):
        draw.text((j * (size + pad), 4), title, fill="black")
    for i, seed in enumerate(seeds):
        world.reset("pick_cube", "distractor", seed)
        colours = object_colours(world.task)
        lifted: dict[str, int] = defaultdict(int)
        for episodes in candidates.values():
            if seed in episodes and not episodes[seed]["success"]:
                for name in episodes[seed].get("extra", {}).get("lifted_objects", []) or ["nothing"]:
                    lifted[name] += 1
        y = 20 + i * (size + caption)
        draw.text((2, y), f"{seed}: pick up the {colours['obj0']} cube; lifted instead: " + ", ".join(
            f"{colours.get(n, '')} {n} x{k}" for n, k in lifted.items()), fill="black")
        for v, view in enumerate(views):
            frame = prepare_frame(world.render(view, RENDER_PX, RENDER_PX), MODEL_PX)
            with torch.no_grad():
                rec = tensor_to_frames(vq.decode(vq.encode(frames_to_tensor(frame[None]))))[0]
            ids = geom_ids(world, view, RENDER_PX, RENDER_PX)
            for k, image in enumerate((frame, rec)):
                x0 = (2 * v + k) * (size + pad)
                canvas.paste(Image.fromarray(image).resize((size, size), Image.NEAREST), (x0, y + 14))
                for name, outline in [("obj0", "white"), *((n, "black") for n in lifted if n in colours)]:
                    cov = coverage(ids, int(world.model.body(name).geomadr[0]), MODEL_PX)
                    rows, cols = np.nonzero(cov >= 0.25)
                    if rows.size:
                        draw.rectangle([x0 + cols.min() * scale - 2, y + 14 + rows.min() * scale - 2,
                                        x0 + (cols.max() + 1) * scale + 1, y + 14 + (rows.max() + 1) * scale + 1],
                                       outline=outline, width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="evaluator JSON files, each optionally @<sha256>")
    p.add_argument("--out", default="bench/results/grounding_failures.json")
    p.add_argument("--image", help="also draw the seeds every candidate failed (PNG): inputs and reconstructions")
    p.add_argument("--vqgan", default="package://gr2_policy/checkpoints/pick_cube_vqgan",
                   help="tokenizer whose reconstructions --image shows")
    args = p.parse_args(argv)
    from gr2_drivers.sim.world import World

    candidates = load_candidates(args.runs)
    seeds = sorted(set.intersection(*(set(c) for c in candidates.values())))
    if not seeds:
        raise SystemExit("the candidates share no distractor seed")
    failed = {s: sum(not c[s]["success"] for c in candidates.values()) for s in seeds}
    rates = [sum(not c[s]["success"] for s in seeds) / len(seeds) for c in candidates.values()]
    world = World()
    scenes = [describe_scene(world, s) for s in seeds]
    hue = {sc["seed"]: sc["neighbour_hue"] for sc in scenes}
    result = {"command": "python bench/grounding_failures.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "candidates": {sha: {"seeds": len(seeds), "failures": sum(not c[s]["success"] for s in seeds),
                                   "failures_with_neighbour_hue": sum(not c[s]["success"] for s in seeds if hue[s]),
                                   "failures_without": sum(not c[s]["success"] for s in seeds if not hue[s])}
                             for sha, c in candidates.items()},
              **summarise(scenes, failed, len(candidates), rates),
              "wrong_lifts": wrong_lifts(candidates, scenes),
              "instruction_similarity": instruction_similarity(), "scenes": scenes}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.image:
        draw_scenes(world, result["failed_by_all"], candidates, args.vqgan, Path(args.image))
    n_hue = sum(hue.values())
    print(f"{len(candidates)} candidates, {len(seeds)} shared seeds ({n_hue} with a neighbouring-hue distractor); "
          "failures per candidate (with / without one): " + ", ".join(
              f"{sha}: {v['failures']} ({v['failures_with_neighbour_hue']} / {v['failures_without']})"
              for sha, v in result["candidates"].items()))
    print("| failed by | seeds | neighbour-hue distractor | target x (m) | target |y| (m) | cube distance (m) "
          "| target px head / wrist |\n|---|---|---|---|---|---|---|")
    for g in result["groups"]:
        print(f"| {g['failed_by']} | {g['seeds']} | {g['neighbour_hue_share']:.0%} | {g['target_x_m_median']:.3f} "
              f"| {g['target_abs_y_m_median']:.3f} | {g['cube_distance_m_median']:.3f} "
              f"| {g['head_camera_target_px_median']:.1f} / {g['wrist_camera_target_px_median']:.1f} |")
    h, sim = result["by_neighbour_hue"], result["instruction_similarity"]
    with_hue, cube_with = h["with_neighbour_hue"], h["cube_only_with_neighbour_hue"]
    print(f"episode failure rate with a neighbouring-hue distractor {with_hue['episode_failure_rate']:.1%} "
          f"({with_hue['seeds']} seeds), without {h['without']['episode_failure_rate']:.1%} "
          f"({h['without']['seeds']}; judged by the other cube alone: {cube_with['episode_failure_rate']:.1%} "
          f"of {cube_with['seeds']} vs {h['cube_only_without']['episode_failure_rate']:.1%}); "
          f"failed by all: {len(result['failed_by_all'])} "
          f"(independent failures: {result['failed_by_all_expected_if_independent']}); the six instructions' "
          f"text embeddings {sim['min']:.2f}-{sim['max']:.2f} "
          f"cosine-similar")
    w = result["wrong_lifts"]
    print(f"wrong lifts: {w['by_hue']['neighbouring']} of a neighbouring hue, {w['by_hue']['other']} other; by object "
          + ", ".join(f"{k} {v}" for k, v in w["by_object"].items()) + "; most frequent target -> lifted: "
          + ", ".join(f"{k} {v}" for k, v in list(w["colour_pairs"].items())[:6]) + f"; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
