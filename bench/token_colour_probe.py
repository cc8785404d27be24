"""Is an object's colour in its VQGAN token? A probe of what the policy can know about colour.

    python bench/token_colour_probe.py --vqgan src/gr2_policy/checkpoints/pick_cube_vqgan [--seeds 400]

For held-out seeds (>= EVAL_FIRST_SEED) of pick_cube in `distractor` (two cubes and three
distractors, five of the six object colours in every scene) at the start state (arm at home, the
moment the policy has to choose which cube to go for), both cameras render at the sim node's size
and go through `model_input.prepare_frame` (the one data path). MuJoCo's segmentation render of the
same view, resampled the same way, gives each object's coverage of every model pixel; the object's
token cell is the cell of the token grid it covers most. Three classifiers of the object's colour
(six classes), each scored by 5-fold cross-validation over the objects:
- `input_pixels`: logistic regression on the mean model-input colour of the object's pixels (>= 50 %
  covered): what the camera frame holds at the model resolution, the ceiling;
- `token_vector`: logistic regression on the codebook vector of the object's cell;
- `token_id`: the colour seen most often with the cell's codebook id in the training folds;
- `token_neighbourhood`: logistic regression on the codebook vectors of the 3x3 cells around it
  (zeros off the grid), since the decoder and the GPT read a cell with its neighbours;
- `decoded_pixels`: logistic regression on the mean colour of the object's pixels in the VQGAN's
  reconstruction (what `bench/input_visibility.py` classifies against the palette).
A tokenizer that keeps colour scores near `input_pixels` on the token classifiers; chance is 1/6.
Writes bench/results/token_colour_probe.json (accuracies and confusion matrices) and prints tables.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

FOLDS = 5
OBJECTS = ("obj0", "obj1", "distractor0", "distractor1", "distractor2")


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, weight_decay: float) -> torch.nn.Linear:
    """Multinomial logistic regression (L2 on the weights) fitted by LBFGS. x: (N, D) float64, y: (N,)."""
    xt, yt = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y)
    lin = torch.nn.Linear(x.shape[1], n_classes).double()
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt) + weight_decay * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin


def logistic_cv_predict(x: np.ndarray, y: np.ndarray, n_classes: int, folds: int = FOLDS,
                        weight_decay: float = 1e-3) -> np.ndarray:
    """Out-of-fold predictions of a logistic regression on standardised features.
    x: (N, D) features, y: (N,) class ids -> (N,) predicted ids."""
    pred = np.zeros_like(y)
    fold = np.arange(len(y)) % folds
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        lin = fit_logistic((x[tr] - mu) / sd, y[tr], n_classes, weight_decay)
        with torch.no_grad():
            pred[te] = lin(torch.as_tensor((x[te] - mu) / sd, dtype=torch.float64)).argmax(1).numpy()
    return pred


def majority_cv_predict(ids: np.ndarray, y: np.ndarray, n_classes: int, folds: int = FOLDS) -> np.ndarray:
    """Out-of-fold predictions: the class seen most often with the same id in the training folds
    (the training folds' most common class for an id never seen there)."""
    pred = np.zeros_like(y)
    fold = np.arange(len(y)) % folds
    for f in range(folds):
        tr = fold != f
        fallback = np.bincount(y[tr], minlength=n_classes).argmax()
        for j in np.where(~tr)[0]:
            seen = y[tr][ids[tr] == ids[j]]
            pred[j] = np.bincount(seen, minlength=n_classes).argmax() if len(seen) else fallback
    return pred


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows true class, columns predicted."""
    m = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(m, (y, pred), 1)
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vqgan", required=True, help="VQGAN checkpoint folder")
    p.add_argument("--seeds", type=int, default=400, help="scenes (held-out seeds from EVAL_FIRST_SEED)")
    p.add_argument("--crop", nargs="+", metavar="VIEW=x0,y0,x1,y1",
                   help="a view's input region (model_input.Crop), as the tokenizer and policy see it")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "token_colour_probe.json"))
    args = p.parse_args(argv)
    if args.seeds < 2 * FOLDS:
        p.error(f"--seeds must be at least {2 * FOLDS} for {FOLDS}-fold cross-validation")
    torch.set_num_threads(2)

    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from input_visibility import coverage, geom_ids

    from gr2_contract.config import config_dir
    from gr2_drivers.sim.tasks import COLORS, EVAL_FIRST_SEED
    from gr2_drivers.sim.world import World
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
    R, G = vq.config.resolution, vq.config.grid
    cell = R // G
    world = World()
    names = list(COLORS)
    palette = np.array(list(COLORS.values()))
    views = ("head_camera", "wrist_camera")
    samples: dict[str, dict[str, list]] = {v: {"vector": [], "id": [], "pixels": [], "colour": [],
                                                    "neighbourhood": [], "decoded": []} for v in views}
    t0 = time.monotonic()
    for seed in range(EVAL_FIRST_SEED, EVAL_FIRST_SEED + args.seeds):
        world.reset("pick_cube", "distractor", seed)
        for view in views:
            frame = prepare_frame(world.render(view, W, H), R, crops.get(view))
            with torch.no_grad():
                ids = vq.encode(frames_to_tensor(frame[None]))[0].reshape(-1)
                vectors = vq.quantizer.codebook(ids).numpy()
                decoded = tensor_to_frames(vq.decode(ids.reshape(1, G, G)))[0]
            padded = np.pad(vectors.reshape(G, G, -1), ((1, 1), (1, 1), (0, 0)))
            seg_ids = geom_ids(world, view, W, H)
            for name in OBJECTS:
                geom = world.model.geom(name).id
                cov = coverage(seg_ids, geom, R, crops.get(view))
                core = cov >= 0.5
                if not core.any():       # out of view or hidden by the arm
                    continue
                per_cell = cov.reshape(G, cell, G, cell).sum((1, 3))
                c = int(np.argmax(per_cell))
                s = samples[view]
                s["vector"].append(vectors[c])
                s["id"].append(int(ids[c]))
                s["pixels"].append(frame[core].mean(0) / 255.0)
                s["decoded"].append(decoded[core].mean(0) / 255.0)
                gy, gx = divmod(c, G)
                s["neighbourhood"].append(padded[gy:gy + 3, gx:gx + 3].reshape(-1))
                s["colour"].append(int(np.argmin(np.linalg.norm(palette - world.model.geom_rgba[geom][:3], axis=1))))
    results = {}
    for view in views:
        s = samples[view]
        y = np.array(s["colour"])
        preds = {"input_pixels": logistic_cv_predict(np.array(s["pixels"]), y, len(names)),
                 "token_vector": logistic_cv_predict(np.array(s["vector"]), y, len(names)),
                 "token_id": majority_cv_predict(np.array(s["id"]), y, len(names)),
                 "token_neighbourhood": logistic_cv_predict(np.array(s["neighbourhood"]), y, len(names)),
                 "decoded_pixels": logistic_cv_predict(np.array(s["decoded"]), y, len(names))}
        results[view] = {"objects": len(y), "distinct_ids": len(set(s["id"])),
                         **{k: {"accuracy": round(float((v == y).mean()), 3),
                                "confusion": confusion(y, v, len(names)).tolist()} for k, v in preds.items()}}
    command = ["python", "bench/token_colour_probe.py", *(argv if argv is not None else sys.argv[1:])]
    doc = {"benchmark": "object colour recoverable from the model input and from its VQGAN token (5-fold CV)",
           "command": " ".join(command),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "vqgan": {"path": args.vqgan, "fingerprint": vqgan_fingerprint(args.vqgan)},
           "model_resolution": R, "token_grid": G, "crops": crops,
           "task": "pick_cube", "setting": "distractor", "state": "start",
           "seeds": [EVAL_FIRST_SEED, EVAL_FIRST_SEED + args.seeds - 1], "colours": names,
           "chance": round(1 / len(names), 3), "results": results, "wall_s": round(time.monotonic() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    kinds = ("input_pixels", "token_vector", "token_id", "token_neighbourhood", "decoded_pixels")
    print(f"colour accuracy (5-fold CV; chance {doc['chance']})")
    print("| view | objects | " + " | ".join(k.replace("_", " ") for k in kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    for view, r in results.items():
        print(f"| {view} | {r['objects']} | " + " | ".join(str(r[k]["accuracy"]) for k in kinds) + " |")
    for view, r in results.items():
        print(f"\n{view}, token neighbourhood: rows true colour, columns predicted")
        print("| | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for name, row in zip(names, r["token_neighbourhood"]["confusion"], strict=True):
            print(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
