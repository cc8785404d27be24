"""Training commands: VQGAN on frames, video pre-training, robot fine-tuning.

    gr2-model train-vqgan --episodes DIR | --videos DIR --vqgan-preset small --out runs/vq
    gr2-model eval-vqgan  --vqgan runs/vq/ckpt --episodes DIR
    gr2-model pretrain    --videos DIR   --vqgan runs/vq/ckpt --config tiny-sim --out runs/pre
    gr2-model finetune    --episodes DIR --vqgan runs/vq/ckpt (--init runs/pre/ckpt) --out runs/ft

Multi-process / multi-node: launch with `torchrun --nproc-per-node N -m gr2_policy.train ...`
(gloo on CPU, NCCL on GPU). Every rank samples different windows (seed + rank); DDP averages
gradients, so replicas stay identical. Checkpoints (rank 0) go to OUT/ckpt, the optimiser state
to OUT/train_state.pt; --resume continues from there. TensorBoard logs go to OUT/tb.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.utils.data import ConcatDataset

from .checkpoint import load_policy, load_vqgan, save_policy, save_vqgan
from .config import VQGAN_PRESETS, get_config
from .data import VideoClipReader, WindowSampler, collate, open_episodes
from .model import GR2
from .model_input import parse_crops
from .policy import frames_to_tensor
from .text_encoder import load_text_encoder
from .vqgan import VQGAN, PatchDiscriminator, psnr


# ---------------------------------------------------------------- distributed plumbing
def setup_distributed(device: str) -> tuple[int, int]:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, else gloo); (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return rank, world


def wrap(module: nn.Module, device: str) -> nn.Module:
    """`module` in DistributedDataParallel when a process group is up (on this rank's GPU for CUDA), else as is."""
    if not dist.is_initialized():
        return module
    ids = [torch.device(device).index or 0] if device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


class _Loss(nn.Module):
    """DDP synchronises gradients through forward(); this routes forward to GR2.loss."""
    def __init__(self, model: GR2):
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.loss(batch)


def _writer(out: Path, rank: int):
    if rank != 0:
        return None
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(str(out / "tb"))


def _progress(total: int, start: int, rank: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, initial=start, desc=desc, disable=rank != 0, dynamic_ncols=True)


def _autocast(device: str, bf16: bool):
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)


# ---------------------------------------------------------------- frames for the VQGAN
def _episode_readers(args, views, resolution, crops=None) -> list:
    """One reader per --episodes folder (several may be given) and one for --videos: a tokenizer
    can learn from robot episodes and captioned clips together. `crops`: view -> model_input.Crop."""
    readers = []
    if getattr(args, "episodes", None):
        folders = [args.episodes] if isinstance(args.episodes, str) else list(args.episodes)
        readers += [open_episodes(f, views, resolution, crops) for f in folders]
    if getattr(args, "videos", None):
        readers.append(VideoClipReader(args.videos, resolution, stride=args.video_stride, views=tuple(views),
                                       crops=crops))
    if not readers:
        raise SystemExit("give --episodes DIR [DIR ...] (robot episodes) and/or --videos DIR (captioned videos)")
    return readers


def _all_frames(reader, indices) -> np.ndarray:
    out = []
    for i in indices:
        out += [f for f in reader[i].frames.values()]
    return np.concatenate(out)


def _split_frames(readers: list, holdout: float) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(training frames, held-out frames or None, held-out episode count): the last `holdout`
    fraction of each reader's episodes is held out, so every folder is represented in both."""
    train, held, n_held = [], [], 0
    for reader in readers:
        train_idx, held_idx = split_episodes(len(reader), holdout)
        train.append(_all_frames(reader, train_idx))
        if held_idx:
            held.append(_all_frames(reader, held_idx))
            n_held += len(held_idx)
    return np.concatenate(train), (np.concatenate(held) if held else None), n_held


def split_episodes(n: int, holdout: float) -> tuple[list[int], list[int]]:
    """Last `holdout` fraction of episodes (at least one when n > 1) is held out."""
    k = max(1, int(round(n * holdout))) if n > 1 and holdout > 0 else 0
    return list(range(n - k)), list(range(n - k, n))


def weighted_l1(rec: torch.Tensor, x: torch.Tensor, detail_weight: float) -> torch.Tensor:
    """L1 reconstruction loss with pixels weighted by how far their colour is from the frame's
    median colour: 1 + detail_weight * mean |x - median| over channels (x in [-1, 1]).

    Why: in a tabletop frame the table is most of the pixels; a 40 mm cube is ~25 of 4096 at
    64 px, so plain L1 barely notices a tokenizer that paints it over with table (measured:
    bench/input_visibility.py). Weighting the pixels that differ from the background keeps small
    objects and their colour. Normalised by the mean weight, so 0 gives the plain L1."""
    if detail_weight <= 0:
        return (rec - x).abs().mean()
    median = x.flatten(2).median(dim=2).values[..., None, None]
    w = 1.0 + detail_weight * (x - median).abs().mean(1, keepdim=True)
    return ((rec - x).abs() * w).mean() / w.mean()


def cell_colour_l1(rec: torch.Tensor, x: torch.Tensor, cell: int) -> torch.Tensor:
    """Colour loss of small objects, blind to where inside a cell they are drawn.

    rec, x: (B, 3, H, W) in [-1, 1]. Each image's detail weight is its pixels' mean |colour -
    median colour of x| (the table is the median); over windows of `cell` px (stride cell / 2)
    the detail-weighted mean colour of x and of rec are compared by L1, and the windows are
    averaged by how much detail x has in them (a window of bare table counts for nothing).

    Why: the pixel L1 of a 5 px cube drawn in a neighbouring hue (yellow for orange: one channel
    off) is a few pixels' error, less than drawing it two pixels off; tokenizers trained on it
    gave yellow, orange and red cubes the same codes (bench/token_colour_probe.py). This term makes
    the object's colour within its token cell cost as much as the object itself."""
    median = x.flatten(2).median(dim=2).values[..., None, None]
    w_x = (x - median).abs().mean(1, keepdim=True)
    w_r = (rec - median).abs().mean(1, keepdim=True)
    stride = max(1, cell // 2)

    def colour(img, w):
        return F.avg_pool2d(img * w, cell, stride) / (F.avg_pool2d(w, cell, stride) + 1e-3)

    detail = F.avg_pool2d(w_x, cell, stride)
    err = (colour(rec, w_r) - colour(x, w_x)).abs().mean(1, keepdim=True)
    return (err * detail).sum() / (detail.sum() + 1e-6)


@torch.no_grad()
def evaluate_vqgan(vqgan: VQGAN, frames: np.ndarray, device: str) -> dict:
    """Reconstruction PSNR (dB) and codebook usage / perplexity of `vqgan` over `frames`
    (N, R, R, 3) uint8, in batches of about 32 frames."""
    vqgan.eval()
    total_psnr, n = 0.0, 0
    counts = torch.zeros(vqgan.config.codebook_size)
    for chunk in np.array_split(frames, max(1, len(frames) // 32)):
        x = frames_to_tensor(chunk).to(device)
        ids = vqgan.encode(x)
        rec = vqgan.decode(ids)
        total_psnr += psnr(rec, x).item() * len(chunk)
        n += len(chunk)
        counts += torch.bincount(ids.flatten().cpu(), minlength=vqgan.config.codebook_size).float()
    p = counts / counts.sum()
    perplexity = torch.exp(-(p[p > 0] * p[p > 0].log()).sum()).item()
    return {"psnr_db": total_psnr / n, "codebook_usage": float((counts > 0).float().mean()),
            "codebook_perplexity": perplexity, "frames": n}


def train_vqgan(args) -> dict:
    """`gr2-model train-vqgan`: train the VQGAN (with its patch discriminator) on episode or video
    frames; checkpoints go to OUT/ckpt. Returns the metrics (held-out PSNR and codebook use when there is a holdout)."""
    device = args.device
    rank, world = setup_distributed(device)
    torch.manual_seed(args.seed)
    cfg = VQGAN_PRESETS[args.vqgan_preset]
    views = tuple(args.views.split(","))
    crops = _crops_arg(args, views)
    frames, held, n_held = _split_frames(_episode_readers(args, views, cfg.resolution, crops), args.holdout)
    out = Path(args.out)
    vq, disc = VQGAN(cfg).to(device), PatchDiscriminator(cfg).to(device)
    if args.init:   # continue a trained tokenizer on more data: its codebook replaces the data-dependent init
        init, _ = load_vqgan(args.init)
        if init.config != cfg:
            raise SystemExit(f"--init {args.init} is a {init.config} tokenizer, not the {args.vqgan_preset} preset")
        vq.load_state_dict(init.state_dict())
    opt_g = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.lr, betas=(0.5, 0.9))
    step = 0
    state_file = out / "train_state.pt"
    if args.resume and state_file.is_file():
        vq, _ = load_vqgan(out / "ckpt")
        vq = vq.to(device)
        opt_g = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=(0.5, 0.9))
        st = torch.load(state_file, weights_only=False)
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        disc.load_state_dict(st["disc"])
        step = st["step"]
    vq_ddp, disc_ddp = wrap(vq, device), wrap(disc, device)
    rng = np.random.default_rng(args.seed + rank)
    writer = _writer(out, rank)
    usage = torch.zeros(cfg.codebook_size)
    bar = _progress(args.steps, step, rank, "vqgan")
    while step < args.steps:
        x = frames_to_tensor(frames[rng.integers(len(frames), size=args.batch)]).to(device)
        if step == 0 and not args.resume and not args.init:   # data-dependent codebook init avoids early collapse
            with torch.no_grad():
                z = vq.quant_conv(vq.encoder(x)).permute(0, 2, 3, 1).reshape(-1, cfg.embed_dim)
                vq.quantizer.codebook.weight.copy_(z[torch.randint(len(z), (cfg.codebook_size,))])
                if dist.is_initialized():
                    dist.broadcast(vq.quantizer.codebook.weight.data, 0)
        with _autocast(device, args.bf16):
            rec, ids, qloss = vq_ddp(x)
            l1 = weighted_l1(rec.float(), x, args.detail_weight)
            colour = (cell_colour_l1(rec.float(), x, cfg.downsample) if args.colour_weight > 0
                      else torch.zeros((), device=x.device))
            adv_on = step >= args.disc_start
            g_adv = -disc_ddp(rec).float().mean() if adv_on else rec.sum() * 0.0
            loss = l1 + args.colour_weight * colour + qloss + args.adv_weight * g_adv
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        d_loss = torch.zeros(())
        if adv_on:
            with _autocast(device, args.bf16):
                d_loss = (F.relu(1 - disc_ddp(x)).mean() + F.relu(1 + disc_ddp(rec.detach())).mean()).float()
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        usage += torch.bincount(ids.flatten().cpu(), minlength=cfg.codebook_size).float()
        step += 1
        if step % args.restart_every == 0:   # re-seed dead codes from current encoder outputs
            with torch.no_grad():
                dead = usage == 0
                if dead.any():
                    z = vq.quant_conv(vq.encoder(x)).permute(0, 2, 3, 1).reshape(-1, cfg.embed_dim)
                    codebook = vq.quantizer.codebook.weight
                    codebook[dead] = z[torch.randint(len(z), (int(dead.sum()),))].to(codebook.dtype)
                    if dist.is_initialized():
                        dist.broadcast(vq.quantizer.codebook.weight.data, 0)
                usage.zero_()
        if writer:
            writer.add_scalar("vqgan/l1", l1.item(), step)
            writer.add_scalar("vqgan/commit", qloss.item(), step)
            writer.add_scalar("vqgan/cell_colour", colour.item(), step)
            writer.add_scalar("vqgan/g_adv", g_adv.item(), step)
            writer.add_scalar("vqgan/d_loss", d_loss.item(), step)
        bar.update(1)
        bar.set_postfix(l1=f"{l1.item():.3f}")
        if rank == 0 and (step % args.save_every == 0 or step == args.steps):
            save_vqgan(out / "ckpt", vq, {"step": step, "crops": crops})
            torch.save({"opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "disc": disc.state_dict(),
                        "step": step}, state_file)
    bar.close()
    metrics = {"step": step, "crops": crops}
    if rank == 0 and held is not None:
        metrics.update(evaluate_vqgan(vq, held, device))
        metrics["held_out_episodes"] = n_held
        save_vqgan(out / "ckpt", vq, metrics)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        print(json.dumps(metrics))
    if writer:
        writer.close()
    return metrics


# ---------------------------------------------------------------- policy training
def lr_at(step: int, args) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `min_lr_ratio` x lr at `steps`."""
    if step < args.warmup:
        return args.lr * (step + 1) / max(1, args.warmup)
    frac = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    ratio = args.min_lr_ratio + (1.0 - args.min_lr_ratio) * 0.5 * (1.0 + np.cos(np.pi * frac))
    return args.lr * ratio


def _policy_reader(args, stage: str, cfg, model_vqgan_fp: str, text_identity: dict):
    """(train reader, validation reader or None) for the stage's data source."""
    from .token_cache import TokenCacheReader
    if stage == "pretrain" and args.videos:
        reader = VideoClipReader(args.videos, cfg.vqgan.resolution, stride=args.video_stride, views=tuple(cfg.views),
                                 crops=cfg.view_crops)
        return reader, None
    if args.tokens:
        train_parts, val_parts = [], []
        # several caches, e.g. demonstrations + a DAgger round
        for folder in ([args.tokens] if isinstance(args.tokens, str) else args.tokens):
            full = TokenCacheReader(folder)
            full.check_compatible(cfg, model_vqgan_fp, text_identity)
            if stage == "pretrain" and full.has_actions:
                raise SystemExit(f"{folder} holds robot actions; pre-training is action-free: cache clips "
                                 "(python -m gr2_policy.token_cache --videos ...) or fine-tune on it")
            train_idx, val_idx = split_episodes(len(full), args.val_fraction)
            train_parts.append(TokenCacheReader(folder, train_idx, variants=args.token_variants))
            if val_idx:                     # validation on the frames as recorded (variant 0)
                val_parts.append(TokenCacheReader(folder, val_idx, variants=1))
        return ConcatDataset(train_parts), (ConcatDataset(val_parts) if val_parts else None)
    if not args.episodes:
        raise SystemExit("give --tokens CACHE (python -m gr2_policy.token_cache) or --episodes DIR")
    return open_episodes(args.episodes, cfg.views, cfg.vqgan.resolution, cfg.view_crops), None


@torch.no_grad()
def validation_loss(model: GR2, batches: list) -> dict:
    """Mean of every loss term over fixed batches, in eval mode (z = posterior mean, plus the
    prior-decoded `action_l1_prior`)."""
    model.eval()
    sums: dict[str, float] = {}
    for b in batches:
        for k, v in model.loss(b).items():
            sums[k] = sums.get(k, 0.0) + v.item() / len(batches)
    return sums


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not an integer >= 1")
    return value


def train_policy(args, stage: str) -> dict:
    """`gr2-model pretrain` / `finetune` (`stage`): train GR-2 on videos or robot episodes with the
    VQGAN frozen; checkpoints go to OUT/ckpt. Returns the final losses and step times (s)."""
    from .token_cache import vqgan_fingerprint
    device = args.device
    rank, world = setup_distributed(device)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    state_file = out / "train_state.pt"
    meta = {}
    trained = bool(args.resume and state_file.is_file()) or bool(args.init)
    if args.resume and state_file.is_file():
        model, meta = load_policy(out / "ckpt")
    elif args.init:
        model, meta = load_policy(args.init, any_model_input=True)   # fine-tuning retrains its inputs
    else:
        if not args.vqgan:
            raise SystemExit("give --vqgan CKPT (a trained tokenizer; the policy keeps it frozen)")
        # a new policy is built around the given tokenizer: its resolution, grid and codebook
        config = get_config(args.config_preset, text=args.text, vqgan=load_vqgan(args.vqgan)[0].config,
                            token_group=args.token_group or 1)
        config.text.path = args.text_path or ""
        model = GR2(config)
    if trained and not args.vqgan and args.token_group not in (None, model.config.token_group):
        raise SystemExit(f"--token-group {args.token_group}: the policy has {model.config.token_group}; "
                         "its token groups change only with a tokenizer (--vqgan CKPT)")
    if args.keep_vocabulary and not (trained and args.vqgan):
        raise SystemExit("--keep-vocabulary moves a trained policy (--init) onto a --vqgan fine-tuned from its "
                         "tokenizer; give both")
    if args.grow_layers:   # (a resumed run has them already: nothing added)
        if not trained:
            raise SystemExit("--grow-layers deepens a trained policy: give --init CKPT")
        try:
            added = model.grow_layers(args.grow_layers)
        except ValueError as e:
            raise SystemExit(f"--grow-layers: {e}") from None
        if added:
            print(f"policy deepened by {added} block(s) to {args.grow_layers}, the new ones the identity at the "
                  f"start", flush=True)
    if args.embed_codebook and not model.config.embed_codebook:   # a new policy, or one built without it
        model.enable_codebook_embedding()
    cfg = model.config
    for name in ("video_weight", "action_weight", "kl_weight"):     # loss weights: the config's unless given
        if getattr(args, name, None) is not None:
            setattr(cfg, name, float(getattr(args, name)))
    vq_fp = meta.get("extra", {}).get("vqgan_fingerprint", "")
    if args.vqgan:
        vq, _ = load_vqgan(args.vqgan)
        if trained:   # a trained policy (--init, --resume) moves to the tokenizer's vocabulary if it differs
            reinitialised = model.reset_vqgan(vq, args.token_group, keep_vocabulary=args.keep_vocabulary)
            if args.keep_vocabulary:
                print(f"tokenizer {args.vqgan} installed; the policy's token table and heads kept as they were "
                      f"(--keep-vocabulary)", flush=True)
            elif reinitialised:
                print(f"tokenizer {args.vqgan} has another vocabulary than the policy's: "
                      f"{', '.join(reinitialised)} re-initialised, the rest kept", flush=True)
        else:         # a new policy was built around this tokenizer's config
            model.vqgan.load_state_dict(vq.state_dict())
        vq_fp = vqgan_fingerprint(args.vqgan)
    if getattr(args, "tokens", None):   # the caches' frames were cut so: the policy's input is the same
        from .token_cache import cache_crops
        try:
            crops = cache_crops([args.tokens] if isinstance(args.tokens, str) else args.tokens)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        if crops != cfg.view_crops:
            print(f"input crops {crops or 'none'} from the token caches (the policy had "
                  f"{cfg.view_crops or 'none'})", flush=True)
            cfg.view_crops = crops
    text = load_text_encoder(cfg.text)
    if args.freeze_pretrained:   # paper sec. 3.5: pre-trained weights frozen, new parts trained
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(("state.", "action_head.")))
        model.vqgan.requires_grad_(False)
    model.to(device)
    reader, val_reader = _policy_reader(args, stage, cfg, vq_fp, text.identity)
    sampler = WindowSampler(reader, cfg, seed=args.seed + 1000 * rank,
                            early_fraction=args.early_fraction, early_frames=args.early_frames)
    val_batches = []
    if val_reader is not None and rank == 0:
        vs = WindowSampler(val_reader, cfg, seed=12345)
        val_batches = [collate(vs.sample(args.batch), cfg, model.vqgan, text, device) for _ in range(args.val_batches)]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(model.optimizer_groups(args.weight_decay), lr=args.lr, betas=(0.9, 0.95))
    step = 0
    if args.resume and state_file.is_file():
        st = torch.load(state_file, weights_only=False)
        if len(st["opt"]["param_groups"]) != len(opt.param_groups):
            raise SystemExit(f"{state_file} holds {len(st['opt']['param_groups'])} optimiser parameter group(s), "
                             f"this code {len(opt.param_groups)} (decayed / not decayed): it cannot resume that "
                             f"run; start a new one from its checkpoint (--init {out / 'ckpt'})")
        opt.load_state_dict(st["opt"])
        step = st["step"]
        sampler.rng = np.random.default_rng(args.seed + 1000 * rank + step)
    ddp = wrap(_Loss(model), device)
    writer = _writer(out, rank)
    bar = _progress(args.steps, step, rank, stage)
    last, val = {}, {}
    step_times: list[float] = []
    extra = {"stage": stage, "vqgan_fingerprint": vq_fp,
             "data": getattr(args, "tokens", None) or getattr(args, "episodes", None) or getattr(args, "videos", None),
             "init": args.init, "train_episodes": len(reader)}
    end = min(args.steps, args.halt_at) if args.halt_at else args.steps
    while step < end:
        t0 = time.perf_counter()
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = collate(sampler.sample(args.batch), cfg, model.vqgan, text, device)
        t1 = time.perf_counter()
        ddp.train()
        model.vqgan.eval()
        with _autocast(device, args.bf16):
            losses = ddp(batch)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        step_times.append(time.perf_counter() - t0)
        last = {k: v.item() for k, v in losses.items()}
        if writer:
            for k, v in last.items():
                writer.add_scalar(f"{stage}/{k}", v, step)
            writer.add_scalar(f"{stage}/lr", lr, step)
            writer.add_scalar(f"{stage}/step_s", step_times[-1], step)
            writer.add_scalar(f"{stage}/data_s", t1 - t0, step)
        if val_batches and (step % args.val_every == 0 or step == end):
            val = validation_loss(model, val_batches)
            if writer:
                for k, v in val.items():
                    writer.add_scalar(f"{stage}_val/{k}", v, step)
        bar.update(1)
        bar.set_postfix(loss=f"{last['loss']:.3f}", act=f"{last['action_l1']:.3f}",
                        **({"val_act": f"{val['action_l1']:.3f}"} if val else {}))
        if rank == 0 and (step % args.save_every == 0 or step == end):
            save_policy(out / "ckpt", model, text.identity, extra | {"step": step, "losses": last, "val": val})
            torch.save({"opt": opt.state_dict(), "step": step}, state_file)
    bar.close()
    if args.save_rank_weights:   # lets a test prove the DDP replicas stayed identical
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(out / f"rank{rank}.safetensors"))
    if writer:
        writer.close()
    if dist.is_initialized():
        dist.barrier()
    times = np.array(step_times) if step_times else np.zeros(1)
    return {"step": step, **last, **{f"val_{k}": v for k, v in val.items()},
            "step_s_p50": float(np.median(times)), "step_s_p90": float(np.percentile(times, 90))}


# ---------------------------------------------------------------- CLI
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML file of option defaults (config/<recipe>/*.yaml)")
    p.add_argument("--out", help="run folder (ckpt/, train_state.pt, tb/)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    p.add_argument("--video-stride", type=int, default=3)


CROP_HELP = ("a view's input region, fractions of the frame's centre square (model_input.Crop): the "
             "tokenizer learns what the policy will see; its checkpoint records the crops, and token caches "
             "made with it cut their frames so")


def _crops_arg(args, views) -> dict:
    """--crop items -> {view: Crop}; SystemExit for a malformed item or a view not in `views`."""
    try:
        crops = parse_crops(getattr(args, "crop", None))
    except ValueError as e:
        raise SystemExit(f"--crop: {e}") from None
    unknown = sorted(set(crops) - set(views))
    if unknown:
        raise SystemExit(f"--crop names view(s) {unknown} not in --views {list(views)}")
    return crops


def build_parser() -> argparse.ArgumentParser:
    """The training argument parser: subcommands train-vqgan, eval-vqgan, pretrain and finetune."""
    p = argparse.ArgumentParser(prog="gr2-model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("train-vqgan")
    _common(v)
    v.add_argument("--episodes", nargs="+", help="episode folder(s) (SIM.md dataset or *.npz)")
    v.add_argument("--videos")
    v.add_argument("--init", help="VQGAN checkpoint to continue from (same preset), e.g. on more tasks")
    v.add_argument("--vqgan-preset", default="small", choices=sorted(VQGAN_PRESETS))
    v.add_argument("--views", default="head_camera,wrist_camera")
    v.add_argument("--crop", nargs="+", metavar="VIEW=x0,y0,x1,y1", help=CROP_HELP)
    v.add_argument("--holdout", type=float, default=0.1)
    v.add_argument("--disc-start", type=int, default=500)
    v.add_argument("--adv-weight", type=float, default=0.1)
    v.add_argument("--restart-every", type=int, default=50)
    v.add_argument("--detail-weight", type=float, default=0.0,
                   help="extra L1 weight of pixels unlike the frame's median colour (0: plain L1)")
    v.add_argument("--colour-weight", type=float, default=0.0,
                   help="weight of cell_colour_l1: the colour of small objects per token cell (0: off)")
    e = sub.add_parser("eval-vqgan")
    e.add_argument("--vqgan", required=True)
    e.add_argument("--episodes", nargs="+", help="episode folder(s) (SIM.md dataset or *.npz)")
    e.add_argument("--videos")
    e.add_argument("--views", default="head_camera,wrist_camera")
    e.add_argument("--crop", nargs="+", metavar="VIEW=x0,y0,x1,y1", help=CROP_HELP)
    e.add_argument("--video-stride", type=int, default=3)
    e.add_argument("--device", default="cpu")
    for stage in ("pretrain", "finetune"):
        s = sub.add_parser(stage)
        _common(s)
        if stage == "pretrain":
            s.add_argument("--videos", help="folder of captioned clips (data.VideoClipReader); frames tokenised "
                                            "every step")
        else:
            s.add_argument("--episodes", help="robot episodes (SIM.md dataset or *.npz); frames tokenised every step")
        s.add_argument("--tokens", nargs="+", help="token cache folder(s) (python -m gr2_policy.token_cache): "
                                                   "no frozen model runs per step")
        s.add_argument("--val-fraction", type=float, default=0.05,
                       help="episodes of the token cache held out for validation")
        s.add_argument("--token-variants", type=int, default=0,
                       help="use the first N token variants of the cache (0: all; 1: no shift augmentation)")
        s.add_argument("--model", dest="config_preset", default="tiny-sim",
                       help="model preset (tiny, tiny-sim, S, B, L, XL)")
        s.add_argument("--text", default="minilm", choices=["minilm", "clip"])
        s.add_argument("--text-path", default="", help="local CLIP directory for --text clip")
        s.add_argument("--vqgan", help="trained VQGAN checkpoint folder")
        s.add_argument("--init", help="policy checkpoint to start from (e.g. the pre-trained one)")
        s.add_argument("--freeze-pretrained", action="store_true")
        s.add_argument("--early-fraction", type=float, default=0.0,
                       help="share of training windows ending in an episode's first --early-frames frames")
        s.add_argument("--early-frames", type=int, default=12)
        s.add_argument("--embed-codebook", action="store_true",
                       help="image token embedding adds a projection of the frozen VQGAN codebook vector "
                            "(GR2Config.embed_codebook; zero-initialised when added to an --init policy)")
        s.add_argument("--token-group", type=_positive_int, default=None,
                       help="a GPT image position embeds a TxT group of tokens (GR2Config.token_group); with "
                            "--init and a finer --vqgan grid, moves the policy onto it keeping its positions "
                            "(GR2.reset_vqgan). Default: the policy's, 1 for a new one")
        s.add_argument("--keep-vocabulary", action="store_true",
                       help="with --init and a --vqgan fine-tuned from the policy's tokenizer: keep the token "
                            "table and next-frame heads instead of re-initialising them (GR2.reset_vqgan)")
        s.add_argument("--grow-layers", type=_positive_int, default=None,
                       help="with --init: deepen the policy's GPT to this many blocks, the new ones on top "
                            "starting as the identity (GR2.grow_layers)")
        s.add_argument("--weight-decay", type=float, default=0.01)
        s.add_argument("--warmup", type=int, default=100)
        s.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine decay ends at this fraction of --lr")
        s.add_argument("--val-every", type=int, default=200)
        for name, what in (("video", "next-frame cross-entropy"), ("action", "action L1"), ("kl", "cVAE KL")):
            # --loss-NAME (and loss_NAME in a --config file): the name before GR2Config's renames
            s.add_argument(f"--{name}-weight", f"--loss-{name}", dest=f"{name}_weight", type=float, default=None,
                           help=f"weight of the {what} (default: the model config's; stored in the checkpoint)")
        s.add_argument("--halt-at", type=int, default=0, help="stop at this step while the LR schedule runs to "
                                                               "--steps (ablations compared early; resumable)")
        s.add_argument("--val-batches", type=int, default=4)
        s.add_argument("--save-rank-weights", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one training subcommand (`gr2-model <command>`); options may come from a --config YAML file."""
    from gr2_contract.config import yaml_defaults
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", None):   # the stage's config file gives the defaults, the command line wins
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.cmd]
        sub.set_defaults(**yaml_defaults(sub, args.config))
        args = parser.parse_args(argv)
    if args.cmd != "eval-vqgan" and not args.out:
        parser.error("--out is required (on the command line or in --config)")
    if args.cmd == "pretrain" and bool(args.videos) == bool(args.tokens):
        parser.error("pretrain takes --videos DIR or --tokens CACHE [CACHE ...] "
                     "(clips cached by gr2_policy.token_cache --videos)")
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    try:
        if args.cmd == "train-vqgan":
            train_vqgan(args)
        elif args.cmd == "eval-vqgan":
            vq, _ = load_vqgan(args.vqgan)
            views = tuple(args.views.split(","))
            readers = _episode_readers(args, views, vq.config.resolution, _crops_arg(args, views))
            frames = np.concatenate([_all_frames(r, range(len(r))) for r in readers])
            print(json.dumps(evaluate_vqgan(vq.to(args.device), frames, args.device)))
        else:
            print(json.dumps(train_policy(args, args.cmd)))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
