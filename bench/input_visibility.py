"""Is the task visible to the model? Per camera view: the target object's size in the model input,
and whether the frozen VQGAN keeps its colour and position.

    python bench/input_visibility.py --vqgan runs/pick_cube/vqgan/ckpt [--task pick_cube] [--episodes 20]

For held-out seeds (>= EVAL_FIRST_SEED, never in VQGAN training data) the scripted expert runs
the episode and three states are measured: the start (arm at home), the pre-grasp pose (first
waypoint reached, gripper 12 cm above the object) and the grasp. At each, both cameras render at
the sim node's size, frames go through `model_input.prepare_frame` (the one data path), and
MuJoCo's segmentation render of the same view, taken through the same resampling, gives the
target's coverage of every model pixel. Measured:
- size: covered area in model pixels (sum of coverage) and its square root (equivalent width);
- colour: the mean colour over pixels >= 50% covered, classified among the six object colours of
  the tasks (scaled to the target's rendered brightness) and the local background (median of the
  uncovered pixels within 8 px): "readable in input" for the model input frame, "kept" for its
  VQGAN reconstruction; the right class is the target's colour;
- centroid: pixels of the reconstruction within 8 px of the true centroid whose colour is nearer
  the target's input colour than the background's; their centroid vs the coverage-weighted
  true centroid (px at the model resolution); "lost" when no such pixel exists.
Writes bench/results/visibility.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def geom_ids(world, view: str, width: int, height: int) -> np.ndarray:
    """(height, width) MuJoCo geom id seen at each pixel of camera `view` (-1: no geom), by a
    segmentation render of the world's current state."""
    import mujoco
    r = world.make_renderer(width, height)
    r.enable_segmentation_rendering()
    r.update_scene(world.data, camera=view, scene_option=world.render_option)
    seg = r.render()
    r.close()
    return np.where(seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), seg[..., 0], -1)


def coverage(seg_ids: np.ndarray, geom: int, size: int, crop=None) -> np.ndarray:
    """(size, size) fraction of each model pixel covered by `geom`, through the data path's crop
    (`crop`, model_input.Crop) and resampling."""
    from gr2_policy.model_input import prepare_frame
    mask = np.repeat(((seg_ids == geom) * 255).astype(np.uint8)[..., None], 3, axis=2)
    return prepare_frame(mask, size, crop)[..., 0].astype(np.float64) / 255.0


def measure(frame64: np.ndarray, rec64: np.ndarray, cov: np.ndarray, palette: np.ndarray, colour_index: int) -> dict:
    """Size, colour class and centroid of the target in one view; colours compared as rendered."""
    area = float(cov.sum())
    out = {"area_px": area, "width_px": float(np.sqrt(area))}
    core = cov >= 0.5
    if area < 0.25 or not core.any():
        return out | {"visible": False}
    yy, xx = np.mgrid[:cov.shape[0], :cov.shape[1]]
    cy, cx = (cov * yy).sum() / area, (cov * xx).sum() / area
    img, rec = frame64.astype(np.float64) / 255.0, rec64.astype(np.float64) / 255.0
    near = (np.abs(yy - cy) <= 8) & (np.abs(xx - cx) <= 8)
    background = near & (cov == 0)
    bg = np.median(img[background], axis=0) if background.any() else np.zeros(3)
    # the six object colours as rendered: the palette scaled to the target's rendered brightness
    target_in = img[core].mean(0)
    shade = np.linalg.norm(target_in) / max(np.linalg.norm(palette[colour_index]), 1e-6)
    classes = np.vstack([palette * shade, bg[None]])

    def cls(rgb: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(classes - rgb, axis=1)))

    readable = cls(target_in) == colour_index
    kept = cls(rec[core].mean(0)) == colour_index
    match = near & (np.linalg.norm(rec - target_in, axis=-1) < np.linalg.norm(rec - bg, axis=-1))
    err = float(np.hypot(yy[match].mean() - cy, xx[match].mean() - cx)) if match.any() else None
    return out | {"visible": True, "colour_readable_in_input": bool(readable), "colour_kept": bool(kept),
                  "centroid_error_px": err}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vqgan", required=True)
    p.add_argument("--task", default="pick_cube")
    p.add_argument("--settings", nargs="+", default=["simple", "distractor"])
    p.add_argument("--episodes", type=int, default=20, help="per setting")
    p.add_argument("--head-camera", type=float, nargs=7, metavar=("X", "Y", "Z", "LX", "LY", "LZ", "FOVY"),
                   help="measure another head-camera framing (pos, lookat, fovy deg) instead of config/sim.yaml's")
    p.add_argument("--crop", nargs="+", metavar="VIEW=x0,y0,x1,y1",
                   help="a view's input region (model_input.Crop), as the tokenizer and policy see it")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "visibility.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    import yaml

    from gr2_contract.config import config_dir
    from gr2_drivers.sim.expert import ScriptedExpert
    from gr2_drivers.sim.tasks import COLORS, EVAL_FIRST_SEED
    from gr2_drivers.sim.world import World, load_sim_config
    from gr2_policy.checkpoint import load_vqgan
    from gr2_policy.model_input import parse_crops, prepare_frame
    from gr2_policy.policy import frames_to_tensor, tensor_to_frames
    from gr2_policy.token_cache import vqgan_fingerprint

    try:
        crops = parse_crops(args.crop)
    except ValueError as e:
        p.error(f"--crop: {e}")
    sim = yaml.safe_load((config_dir() / "sim.yaml").read_text())["/**"]["ros__parameters"]
    W, H = int(sim["image_width"]), int(sim["image_height"])
    vq, _ = load_vqgan(args.vqgan)
    vq.eval()
    R = vq.config.resolution
    sim_config = load_sim_config()
    if args.head_camera:
        import dataclasses
        h = args.head_camera
        sim_config.cameras = [dataclasses.replace(c, pos=tuple(h[:3]), lookat=tuple(h[3:6]), fovy_deg=h[6])
                              if c.name == "head_camera" else c for c in sim_config.cameras]
        sim["head_camera.pos"], sim["head_camera.lookat"], sim["head_camera.fovy_deg"] = h[:3], h[3:6], h[6]
    world = World(sim_config)
    palette = np.array(list(COLORS.values()))
    names = list(COLORS)
    rows: list[dict] = []
    t0 = time.monotonic()
    for setting in args.settings:
        for seed in range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + args.episodes):
            world.reset(args.task, setting, seed)
            task = world.task
            geom = world.model.geom(task.target).id
            colour_index = names.index(task.colors[0])
            plan = task.expert(world)
            stages = {"start": None, "pre_grasp": plan[0].pos, "grasp": plan[1].pos}
            seen: dict[str, bool] = {}

            # snap and on_step run within this iteration (expert.run below), so the loop variables they
            # read are the current ones (B023).
            def snap(stage: str) -> None:
                for view in ("head_camera", "wrist_camera"):
                    frame64 = prepare_frame(world.render(view, W, H), R, crops.get(view))  # noqa: B023
                    cov = coverage(geom_ids(world, view, W, H), geom, R, crops.get(view))  # noqa: B023
                    with torch.no_grad():
                        rec64 = tensor_to_frames(vq.decode(vq.encode(frames_to_tensor(frame64[None]))))[0]
                    rows.append({"setting": setting, "seed": seed, "stage": stage, "view": view,  # noqa: B023
                                 "colour": names[colour_index],  # noqa: B023
                                 **measure(frame64, rec64, cov, palette, colour_index)})  # noqa: B023

            snap("start")
            expert = ScriptedExpert(world)

            def on_step(target) -> None:
                tcp, _ = world.ee_pose()
                for stage in ("pre_grasp", "grasp"):
                    if stage not in seen and np.linalg.norm(tcp - stages[stage]) < 0.01:  # noqa: B023
                        seen[stage] = True  # noqa: B023
                        snap(stage)

            expert.run(on_step)
    summary = {}
    for stage in ("start", "pre_grasp", "grasp"):
        for view in ("head_camera", "wrist_camera"):
            rs = [r for r in rows if r["stage"] == stage and r["view"] == view]
            vis = [r for r in rs if r.get("visible")]
            errs = [r["centroid_error_px"] for r in vis if r["centroid_error_px"] is not None]
            summary[f"{stage}/{view}"] = {
                "n": len(rs), "visible": len(vis),
                "width_px_median": round(float(np.median([r["width_px"] for r in rs])), 2) if rs else None,
                "colour_readable_in_input":
                    round(sum(r["colour_readable_in_input"] for r in vis) / len(vis), 3) if vis else None,
                "colour_kept": round(sum(r["colour_kept"] for r in vis) / len(vis), 3) if vis else None,
                "centroid_error_px_median": round(float(np.median(errs)), 2) if errs else None,
                "centroid_error_px_p90": round(float(np.percentile(errs, 90)), 2) if errs else None,
                "lost": sum(r["centroid_error_px"] is None for r in vis)}
    # colour kept per target colour: which colours the tokenizer merges (the policy's grounding errors)
    per_colour = {}
    for stage in ("start", "pre_grasp", "grasp"):
        for view in ("head_camera", "wrist_camera"):
            for colour in names:
                vis = [r for r in rows if r["stage"] == stage and r["view"] == view and r["colour"] == colour
                       and r.get("visible")]
                per_colour[f"{stage}/{view}/{colour}"] = {
                    "visible": len(vis), "colour_readable_in_input": sum(r["colour_readable_in_input"] for r in vis),
                    "colour_kept": sum(r["colour_kept"] for r in vis)}
    doc = {"benchmark": "target-object visibility in the model input and after VQGAN tokenisation",
           "command": " ".join(["python", "bench/input_visibility.py", *(argv if argv is not None else sys.argv[1:])]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "vqgan": {"path": args.vqgan, "fingerprint": vqgan_fingerprint(args.vqgan)},
           "model_resolution": R, "token_grid": vq.config.grid, "camera_size": [W, H], "crops": crops,
           "head_camera": {k: sim[f"head_camera.{k}"] for k in ("pos", "lookat", "fovy_deg")},
           "summary": summary, "per_colour": per_colour, "rows": rows, "wall_s": round(time.monotonic() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print("| stage / view | n | visible | width px (median) | colour readable in input | colour kept by VQGAN | "
          "centroid err px (median / p90) | lost |")
    print("|---|---|---|---|---|---|---|---|")
    for k, s in summary.items():
        print(f"| {k} | {s['n']} | {s['visible']} | {s['width_px_median']} | {s['colour_readable_in_input']} "
              f"| {s['colour_kept']} | {s['centroid_error_px_median']} / {s['centroid_error_px_p90']} | {s['lost']} |")
    print("\n| stage / view | " + " | ".join(names) + " |  (colour kept by VQGAN / visible)")
    print("|---|" + "---|" * len(names))
    for stage in ("start", "pre_grasp", "grasp"):
        for view in ("head_camera", "wrist_camera"):
            cells = [per_colour[f"{stage}/{view}/{c}"] for c in names]
            print(f"| {stage}/{view} | " + " | ".join(f"{c['colour_kept']}/{c['visible']}" for c in cells) + " |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
