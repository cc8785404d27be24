"""Fine-tuning step time with and without the token cache, same model, batch and data, side by side.

    python bench/train_step_bench.py [--config config/pick_cube/finetune.yaml] [--steps 20] [--batch 32]

"frames": windows read from the recorded episodes (the cache's own source datasets), frames
taken through `model_input.prepare_frame`, tokenised by the frozen VQGAN and instructions
embedded by the frozen text encoder at every step (what `finetune --episodes` does).
"tokens": the same windows' ids and text embeddings read from the token cache (`finetune
--tokens`); only the trainable parts run. Both measure sample + collate + forward + backward +
AdamW step; the two kinds alternate step by step so machine load hits both alike. Episodes are
loaded into memory before timing (both readers cache them), so disk reads are not timed.
Writes bench/results/train_step.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="config/pick_cube/finetune.yaml",
                   help="the fine-tuning config (cache, VQGAN, model)")
    p.add_argument("--steps", type=int, default=20, help="timed steps of each kind")
    p.add_argument("--batch", type=int, default=0, help="0: the config's batch")
    p.add_argument("--episodes", type=int, default=40, help="episodes loaded for both kinds")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "train_step.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from gr2_policy.checkpoint import load_vqgan
    from gr2_policy.config import get_config
    from gr2_policy.data import SimDatasetReader, WindowSampler, collate
    from gr2_policy.model import GR2
    from gr2_policy.text_encoder import load_text_encoder
    from gr2_policy.token_cache import TokenCacheReader

    conf = yaml.safe_load(Path(args.config).read_text())
    batch = args.batch or int(conf["batch"])
    vq, _ = load_vqgan(conf["vqgan"])
    cfg = get_config(conf.get("model", "tiny-sim"), vqgan=vq.config)   # built around the tokenizer, as finetune does
    model = GR2(cfg)
    model.reset_vqgan(vq)
    text = load_text_encoder(cfg.text)
    tokens = conf["tokens"] if isinstance(conf["tokens"], str) else conf["tokens"][0]
    cache = TokenCacheReader(tokens)
    # the same episodes for both kinds: the cache's first N, and their recorded source folders
    eps = cache.meta["episodes"][:args.episodes]
    cached = TokenCacheReader(tokens, list(range(len(eps))))
    sources = sorted({e["source"] for e in eps})
    cfg.view_crops = cache.crops      # the frames as the cache's tokenizer saw them
    frame_readers = {s: SimDatasetReader(s, cfg.views, cfg.vqgan.resolution, crops=cfg.view_crops) for s in sources}

    class SameEpisodes:
        def __len__(self):
            return len(eps)

        def __getitem__(self, i):
            r = frame_readers[eps[i]["source"]]
            return r[[row["dir"] for row in r.rows].index(eps[i]["dir"])]

    samplers = {"frames": WindowSampler(SameEpisodes(), cfg, seed=0), "tokens": WindowSampler(cached, cfg, seed=0)}
    for s in samplers.values():                      # load every episode before timing
        for i in range(len(eps)):
            s.episode(i)
    params = [p_ for p_ in model.parameters() if p_.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    times = {k: [] for k in samplers}
    parts = {k: {"data_s": [], "compute_s": []} for k in samplers}
    for step in range(args.steps + 2):              # 2 warm-up steps of each kind
        for kind, sampler in samplers.items():
            t0 = time.perf_counter()
            b = collate(sampler.sample(batch), cfg, model.vqgan, text)
            t1 = time.perf_counter()
            model.train()
            model.vqgan.eval()
            loss = model.loss(b)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            t2 = time.perf_counter()
            if step >= 2:
                times[kind].append(t2 - t0)
                parts[kind]["data_s"].append(t1 - t0)
                parts[kind]["compute_s"].append(t2 - t1)

    def pct(a, q: float) -> float:
        return round(1000 * float(np.percentile(a, q)), 1)

    rows = {k: {"step_ms_p50": pct(v, 50), "step_ms_p90": pct(v, 90),
                "data_ms_p50": pct(parts[k]["data_s"], 50), "compute_ms_p50": pct(parts[k]["compute_s"], 50)}
            for k, v in times.items()}
    speedup = rows["frames"]["step_ms_p50"] / rows["tokens"]["step_ms_p50"]
    result = {"benchmark": "finetune step time, frames tokenised per step vs token cache",
              "command": " ".join(["python", "bench/train_step_bench.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.processor() or platform.machine(),
              "threads": args.threads, "model": cfg.name, "batch": batch, "steps_each": args.steps,
              "episodes": len(eps), "results": rows, "speedup_p50": round(speedup, 2)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("| data | step p50 (ms) | step p90 (ms) | data p50 (ms) | compute p50 (ms) |\n|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['step_ms_p50']} | {r['step_ms_p90']} | {r['data_ms_p50']} | {r['compute_ms_p50']} |")
    print(f"token cache: {speedup:.1f}x faster per step (p50), batch {batch}, {cfg.name}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
