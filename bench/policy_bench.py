"""GR-2 inference benchmark: action-chunk latency (p50/p95) and video-generation time per frame.

    python bench/policy_bench.py [--configs tiny,S,B] [--dtypes fp32,bf16] [--compile off,on]
                                 [--compile-configs tiny,S] [--iters 20] [--vqgan small]

Action latency is measured through the real API, `GR2Policy.predict` (VQGAN tokenisation of
the h x views frames + one transformer forward + cVAE decode; the instruction embedding is
cached after the first call, as in a running policy), with randomly initialised weights: the
latency does not depend on the weight values. Named sizes S/B use their transformer with the
tokenizer chosen by --vqgan (default `small`: 64 px, 8x8 tokens per view) so the run fits on a
CPU; pass --vqgan paper for the paper's 256 px / 16x16 layout. Writes bench/results/policy.json.

`--model-level --device cuda --vqgan paper` instead times the model alone on random tokens (no
text encoder, which a bare GPU machine may lack): a bf16 training step, the action forward pass
and KV-cached next-frame generation, and writes bench/results/policy_model_level.json. On a CPU,
token layouts side by side, a tokenizer preset followed by `:T` for TxT token groups per GPT
position (GR2Config.token_group): `--model-level --configs tiny-sim --vqgan
sim_2048,sim_2048_f4,sim_2048_f4:2 --train-dtype fp32 --dtypes fp32 --out
bench/results/policy_token_grid.json`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gr2_policy.config import VQGAN_PRESETS, get_config
from gr2_policy.model import GR2
from gr2_policy.policy import GR2Policy, Observation
from gr2_policy.text_encoder import load_text_encoder

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def observation(cfg, rng) -> Observation:
    r = cfg.vqgan.resolution
    return Observation(images={v: rng.integers(0, 255, (r, r, 3), dtype=np.uint8) for v in cfg.views},
                       ee_position=np.array([0.45, 0.0, 0.3]), ee_quaternion=np.array([0.0, 1.0, 0.0, 0.0]),
                       gripper_closure=0.0)


def percentile_ms(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def bench_one(name: str, dtype: str, compiled: bool, args, text) -> dict:
    torch.manual_seed(0)
    cfg = get_config(name, vqgan=args.vqgan, text="minilm")
    model = GR2(cfg).eval()
    t_compile = 0.0
    if compiled:
        model.gpt = torch.compile(model.gpt, dynamic=False)
    policy = GR2Policy(model, text, dtype=DTYPES[dtype])
    rng = np.random.default_rng(0)
    instruction = "pick up the red cube and put it in the bin"
    t0 = time.perf_counter()
    for _ in range(max(1, args.warmup)):          # fills the history; compiles on the first call
        policy.predict(observation(cfg, rng), instruction)
    t_compile = time.perf_counter() - t0
    lat, fwd = [], []
    for _ in range(args.iters):
        obs = observation(cfg, rng)
        t = time.perf_counter()
        out = policy.predict(obs, instruction)
        lat.append(time.perf_counter() - t)
        fwd.append(out.timings["action_s"])
    row = {"config": name, "dtype": dtype, "compile": compiled, "tokens_in_context": 1 + cfg.n_obs_steps * cfg.step_len,
           "n_obs_steps": cfg.n_obs_steps, "chunk_size": cfg.chunk_size, "image_tokens_per_view": cfg.n_img,
           "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "iters": args.iters, "warmup_s": round(t_compile, 2),
           "action_p50_ms": percentile_ms(lat, 50), "action_p95_ms": percentile_ms(lat, 95),
           "transformer_p50_ms": percentile_ms(fwd, 50)}
    if args.video and not compiled and dtype == "fp32":
        times = []
        for _ in range(args.video_iters):
            t = time.perf_counter()
            out = policy.predict(observation(cfg, rng), instruction, predict_frames=True)
            times.append(out.timings["video_s"])
        row["video_frame_ms_p50"] = percentile_ms(times, 50)   # next frame of every view, incl. VQGAN decode
        row["video_token_ms"] = row["video_frame_ms_p50"] / (cfg.n_img * len(cfg.views))
    return row


def random_batch(cfg, batch: int, steps: int, device: str):
    """Random tokens, a fixed TCP pose and zero action targets: timing input only."""
    from gr2_policy.model import Batch
    S, k = steps, cfg.chunk_size
    return Batch(text=torch.randn(batch, cfg.text.dim),
                 tokens=torch.randint(0, cfg.vqgan.codebook_size, (batch, S, len(cfg.views), cfg.n_img)),
                 state_pos=torch.tensor([0.45, 0.0, 0.3]).expand(batch, S, 3),
                 state_quat=torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(batch, S, 4),
                 gripper_closure=torch.zeros(batch, S),
                 state_valid=torch.ones(batch, S, dtype=torch.bool), actions=torch.zeros(batch, S, k, 10),
                 action_valid=torch.ones(batch, S, dtype=torch.bool)).to(device)


def parse_layout(entry: str) -> tuple[str, int]:
    """`preset` or `preset:T` (--vqgan list entry) -> (VQGAN preset, token_group)."""
    preset, _, group = entry.partition(":")
    return preset, int(group) if group else 1


def valid_layout(entry: str) -> bool:
    """A known preset, and T (if given) a whole number >= 1 that divides its token grid."""
    preset, _, group = entry.partition(":")
    if preset not in VQGAN_PRESETS or (group and not group.isdigit()):
        return False
    t = parse_layout(entry)[1]
    return t >= 1 and VQGAN_PRESETS[preset].grid % t == 0


def model_level(args) -> dict:
    dev = args.device
    sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
    out = {}
    train_dtype = torch.bfloat16 if args.train_dtype == "bf16" else torch.float32
    for name, vqgan in ((n, v) for n in args.configs.split(",") for v in args.vqgan.split(",")):
        torch.manual_seed(0)
        preset, group = parse_layout(vqgan)
        cfg = get_config(name, vqgan=preset, text="minilm", token_group=group)
        m = GR2(cfg).to(dev)
        row = {"vqgan": preset, "token_grid": cfg.vqgan.grid, "token_group": group, "context_tokens": cfg.block_size,
               "trainable_params": sum(p.numel() for p in m.parameters() if p.requires_grad)}
        b = random_batch(cfg, 4, cfg.n_steps, dev)
        opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
        ts = []
        for _ in range(6):
            sync()
            t = time.perf_counter()
            with torch.autocast(torch.device(dev).type, dtype=train_dtype, enabled=args.train_dtype == "bf16"):
                loss = m.loss(b)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync()
            ts.append(time.perf_counter() - t)
        row[f"train_step_ms_batch4_{args.train_dtype}"] = float(np.median(ts[2:]) * 1e3)
        m.eval()
        bi = random_batch(cfg, 1, cfg.n_obs_steps, dev)
        for dtype in args.dtypes.split(","):
            lat = []
            for _ in range(args.iters + 3):
                sync()
                t = time.perf_counter()
                with torch.autocast(torch.device(dev).type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
                    m.predict_actions(bi)
                sync()
                lat.append(time.perf_counter() - t)
            row[f"action_p50_ms_{dtype}"] = percentile_ms(lat[3:], 50)
            row[f"action_p95_ms_{dtype}"] = percentile_ms(lat[3:], 95)
        with torch.autocast(torch.device(dev).type, dtype=torch.bfloat16):
            pred = m.predict_actions(bi)
            sync()
            t = time.perf_counter()
            m.generate_frame(bi, pred.hidden, pred.cache)
            sync()
            row["video_frame_s_bf16"] = time.perf_counter() - t
        key = name if len(args.vqgan.split(",")) == 1 else f"{name}/{vqgan}"
        out[key] = row
        print(key, json.dumps(row), flush=True)
        del m, opt
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny,S,B")
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--compile", default="off,on", help="off, on or off,on")
    p.add_argument("--compile-configs", default="tiny", help="configs that also run compiled (compile is slow on CPU)")
    p.add_argument("--vqgan", default="small",
                   help=f"tokenizer preset ({', '.join(sorted(VQGAN_PRESETS))}); --model-level takes a comma "
                        "list, each preset optionally followed by :T for TxT token groups")
    p.add_argument("--train-dtype", default="bf16", choices=["bf16", "fp32"],
                   help="--model-level training step precision (fp32 for a CPU)")
    p.add_argument("--iters", type=int, default=6)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--video-iters", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="1 avoids spin-wait stalls on a shared CPU")
    p.add_argument("--model-level", action="store_true", help="time the model alone on random tokens")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    unknown = [v for v in args.vqgan.split(",") if not valid_layout(v)]
    if unknown or (("," in args.vqgan or ":" in args.vqgan) and not args.model_level):
        why = "" if unknown else " (a list or :T token groups only with --model-level)"
        p.error(f"--vqgan {args.vqgan}: {', '.join(unknown) or args.vqgan} is not one of {sorted(VQGAN_PRESETS)}, "
                f"optionally :T with T dividing its token grid{why}")
    torch.set_num_threads(args.threads)
    results = Path(__file__).resolve().parent / "results"
    if args.model_level:
        out = Path(args.out or results / "policy_model_level.json")
        rows = model_level(args)
        device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"device": device, "torch": torch.__version__, "vqgan": args.vqgan, "results": rows},
                                  indent=2))
        print(f"wrote {out}")
        return 0
    args.out = args.out or str(results / "policy.json")
    text = load_text_encoder(get_config("tiny").text)
    rows = []
    t_start = time.perf_counter()
    for name in args.configs.split(","):
        for compiled in [c == "on" for c in args.compile.split(",")]:
            if compiled and name not in args.compile_configs.split(","):
                continue
            for dtype in args.dtypes.split(","):
                row = bench_one(name, dtype, compiled, args, text)
                rows.append(row)
                extra = f" video/frame {row['video_frame_ms_p50']:.0f} ms" if "video_frame_ms_p50" in row else ""
                print(f"{name:5s} {dtype:5s} compile={str(compiled):5s} ctx={row['tokens_in_context']:5d} "
                      f"action p50 {row['action_p50_ms']:8.1f} ms  p95 {row['action_p95_ms']:8.1f} ms{extra}",
                      flush=True)
    result = {"command": " ".join(["python", "bench/policy_bench.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch_threads": args.threads, "torch": torch.__version__,
                          "load_avg_at_end": os.getloadavg()},
              "vqgan": args.vqgan, "wall_s": round(time.perf_counter() - t_start, 1), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out} in {result['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
