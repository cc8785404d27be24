"""Open-loop probes of a policy checkpoint on token-cache episodes: does it localise the cube, and
what does it listen to?

    python bench/policy_probe.py --checkpoint package://gr2_policy/checkpoints/pick_cube

For the first `--episodes` training and the validation episodes of the cache (the finetune split,
5%), windows at frame t (0, 5, 10) are fed as in training; from the chunk of the window's last
step it reports: the end point's xy error against the label (m, median), the labels' own spread
around their mean (m, median: what predicting the mean scores), and at t = 0 how far the end point
moves when the images or the instructions are shuffled between episodes (m, mean), and the
[ACT] hidden state's spread across episodes (std per feature; features have unit variance after
the final LayerNorm). Writes bench/results/policy_probe.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def probe(checkpoint: str, tokens: str, episodes: int, seed: int = 0) -> dict:
    from gr2_policy.checkpoint import fingerprint, load_policy, resolve_checkpoint
    from gr2_policy.data import WindowSampler, collate
    from gr2_policy.token_cache import TokenCacheReader
    from gr2_policy.train import split_episodes

    model, _ = load_policy(resolve_checkpoint(checkpoint))
    model.eval()
    c = model.config
    n = len(TokenCacheReader(tokens))
    train_idx, val_idx = split_episodes(n, 0.05)
    gen = torch.Generator().manual_seed(seed)
    out = {"checkpoint": fingerprint(checkpoint), "tokens": tokens, "splits": {}}
    for name, idx in (("train", train_idx[:episodes]), ("validation", val_idx[:episodes])):
        reader = TokenCacheReader(tokens, idx, variants=1)
        sampler = WindowSampler(reader, c, seed)
        eps = [reader[i] for i in range(len(reader))]
        rows = {}
        for t in (0, 5, 10):
            b = collate([sampler.window(e, t) for e in eps], c, model.vqgan, None)
            pred = model.predict_actions(b)
            a, h = pred.actions, pred.hidden
            label = b.actions[:, -1]
            end = (a[:, -1, :2] - label[:, -1, :2]).numpy() * c.pos_scale
            spread = (label[:, -1, :2] - label[:, -1, :2].mean(0)).numpy() * c.pos_scale
            row = {"end_xy_error_m": float(np.median(np.linalg.norm(end, axis=1))),
                   "label_spread_m": float(np.median(np.linalg.norm(spread, axis=1)))}
            if t == 0:
                perm = torch.randperm(len(eps), generator=gen)
                moved = {}
                for what in ("tokens", "text"):
                    b2 = collate([sampler.window(e, t) for e in eps], c, model.vqgan, None)
                    setattr(b2, what, getattr(b, what)[perm])
                    a2 = model.predict_actions(b2).actions
                    moved[what] = float(((a2 - a)[:, -1, :2] * c.pos_scale).norm(dim=1).mean())
                row["end_moves_when_shuffled_m"] = {"images": moved["tokens"], "instructions": moved["text"]}
                act = h[:, model.act_index(b.tokens.shape[1] - 1)]
                row["act_hidden_std_across_episodes"] = float(act.std(0).mean())
            rows[f"t{t}"] = {k: (round(v, 4) if isinstance(v, float) else {kk: round(vv, 4) for kk, vv in v.items()})
                             for k, v in row.items()}
        out["splits"][name] = {"episodes": len(eps), **rows}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", required=True)
    p.add_argument("--tokens", default="data/pick_cube/tokens", help="token cache (python -m gr2_policy.token_cache)")
    p.add_argument("--episodes", type=int, default=40)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "policy_probe.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = [probe(ck, args.tokens, args.episodes) for ck in args.checkpoint]
    doc = {"benchmark": "open-loop localisation probes", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "command": " ".join(["python", "bench/policy_probe.py", *(sys.argv[1:] if argv is None else argv)]),
           "results": results}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for r in results:
        for split, s in r["splits"].items():
            t0 = s["t0"]
            print(f"{r['checkpoint']['path']} {split}: t0 end error {t0['end_xy_error_m']} m vs label spread "
                  f"{t0['label_spread_m']} m; shuffled images move it {t0['end_moves_when_shuffled_m']['images']} m, "
                  f"instructions {t0['end_moves_when_shuffled_m']['instructions']} m; [ACT] std "
                  f"{t0['act_hidden_std_across_episodes']}; "
                  f"t5 {s['t5']['end_xy_error_m']} / {s['t5']['label_spread_m']} m")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
