"""Next-frame prediction on held-out action-free clips: what video pre-training learns, measured
for any GR-2 checkpoints on the same windows.

    python bench/clip_prediction.py --tokens data/multitask/tokens_videos_unseen \\
        --checkpoints runs/multitask/pretrain/ckpt runs/multitask/finetune/ckpt --batches 20

The held-out clips are the last --holdout share of the clip token cache (the split `gr2-model
pretrain` validates on; `train.split_episodes`), frames as recorded (token variant 0). Windows of
the model's h+1 steps are drawn with a fixed seed, so every checkpoint sees the same ones. Per view,
teacher forcing: cross-entropy (nats) of the next frame's tokens and the share of tokens whose
argmax is right, beside the copy-last-frame baseline (frame t's token at each position as frame
t+1's). Clips carry no robot state: the [STATE] tokens are marked missing, as in pre-training.
Every checkpoint must use the cache's tokenizer. Writes bench/results/clip_prediction.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def measure(ckpt: str, tokens: str, holdout: float, batches: int, batch: int, seed: int) -> dict:
    """Per-view next-frame cross-entropy and token accuracy of `ckpt` on held-out windows."""
    from gr2_policy.checkpoint import load_policy
    from gr2_policy.data import WindowSampler, collate
    from gr2_policy.token_cache import TokenCacheReader
    from gr2_policy.train import split_episodes

    full = TokenCacheReader(tokens)
    if full.has_actions:
        raise SystemExit(f"{tokens} is a robot cache; this measures action-free clips (token_cache --videos)")
    model, meta = load_policy(ckpt, text_identity=full.meta["text_encoder"])   # the cached embeddings' encoder
    model.eval()
    cfg = model.config
    full.check_compatible(cfg, meta.get("extra", {}).get("vqgan_fingerprint", ""), full.meta["text_encoder"])
    _, held = split_episodes(len(full), holdout)
    sampler = WindowSampler(TokenCacheReader(tokens, held, variants=1), cfg, seed=seed)
    ce = np.zeros(len(cfg.views))
    right = np.zeros(len(cfg.views))
    copy_right = np.zeros(len(cfg.views))
    count = 0
    for _ in range(batches):
        b = collate(sampler.sample(batch), cfg, None, None)
        S = b.tokens.shape[1]
        h, _ = model(b, keep_cache=False)
        logits = model.image_logits(h, S).float()                 # B, S-1, V, N, codebook
        target = b.tokens[:, 1:]
        for v in range(len(cfg.views)):
            lv, tv = logits[:, :, v].flatten(0, 2), target[:, :, v].flatten()
            ce[v] += torch.nn.functional.cross_entropy(lv, tv, reduction="sum").item()
            right[v] += (lv.argmax(-1) == tv).sum().item()
            copy_right[v] += (b.tokens[:, :-1, v].flatten() == tv).sum().item()
        count += target[:, :, 0].numel()
    return {"checkpoint": ckpt, "held_out_clips": len(held), "windows": batches * batch,
            "tokens_per_view": count,
            "views": {view: {"cross_entropy": ce[v] / count, "token_accuracy": right[v] / count,
                             "copy_last_accuracy": copy_right[v] / count} for v, view in enumerate(cfg.views)}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", required=True, help="clip token cache (python -m gr2_policy.token_cache --videos)")
    p.add_argument("--checkpoints", nargs="+", required=True)
    p.add_argument("--holdout", type=float, default=0.05, help="held-out share (pretrain's --val-fraction)")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "bench/results/clip_prediction.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.monotonic()
    rows = [measure(c, args.tokens, args.holdout, args.batches, args.batch, args.seed) for c in args.checkpoints]
    result = {"command": " ".join(["python", "bench/clip_prediction.py", *(sys.argv[1:] if argv is None else argv)]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "tokens": args.tokens, "rows": rows,
              "seconds": round(time.monotonic() - t0, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"{'checkpoint':48s} {'view':14s} {'CE (nats)':>9s} {'token acc':>9s} {'copy-last':>9s}")
    for r in rows:
        for view, m in r["views"].items():
            print(f"{r['checkpoint']:48s} {view:14s} {m['cross_entropy']:9.3f} {m['token_accuracy']:9.3f} "
                  f"{m['copy_last_accuracy']:9.3f}")
    print(f"wrote {args.out} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
