"""`gr2-model`: inspect configs and run the training commands.

    gr2-model info --config B [--text clip|minilm] [--vqgan paper|small|tiny]
    gr2-model train-vqgan / pretrain / finetune ...   (see gr2_policy.train)
"""
from __future__ import annotations

import argparse
import json
import sys

import torch

from .config import PRESETS, get_config
from .model import GR2, count_params
from .text_encoder import text_encoder_param_count


def info(name: str, text: str | None = None, vqgan: str | None = None) -> dict:
    """Parameter counts (trainable, total with the frozen text encoder) and token layout of preset `name`."""
    overrides = {}
    if text:
        overrides["text"] = text
    if vqgan:
        overrides["vqgan"] = vqgan
    cfg = get_config(name, **overrides)
    with torch.device("meta"):
        model = GR2(cfg)
    counts = count_params(model)
    text_params = text_encoder_param_count(cfg.text)
    vq = sum(p.numel() for p in model.vqgan.parameters())
    return {"config": name, "trainable": counts["trainable"],
            "total": counts["total"] + text_params,
            "breakdown": {"policy_trainable": counts["trainable"], "vqgan_frozen": vq,
                          f"text_{cfg.text.kind}_frozen": text_params},
            "layout": {"n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "n_head": cfg.n_head,
                       "n_obs_steps": cfg.n_obs_steps, "chunk_size": cfg.chunk_size, "views": list(cfg.views),
                       "tokens_per_view": cfg.n_img, "token_group": cfg.token_group,
                       "positions_per_view": cfg.n_pos, "block_size": cfg.block_size,
                       "vqgan_resolution": cfg.vqgan.resolution, "codebook": cfg.vqgan.codebook_size}}


def main(argv: list[str] | None = None) -> int:
    """`gr2-model`: model info, or the training subcommands (passed on to gr2_policy.train); the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("train-vqgan", "eval-vqgan", "pretrain", "finetune"):
        from .train import main as train_main
        return train_main(argv)
    p = argparse.ArgumentParser(prog="gr2-model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("info", help="print trainable/total parameter counts as JSON")
    i.add_argument("--config", required=True, choices=sorted(PRESETS))
    i.add_argument("--text", choices=["minilm", "clip"], default=None)
    i.add_argument("--vqgan", choices=["tiny", "small", "paper"], default=None)
    for name in ("train-vqgan", "eval-vqgan", "pretrain", "finetune"):
        sub.add_parser(name, help="training command; `gr2-model %s --help`" % name)
    args = p.parse_args(argv)
    if args.cmd == "info":
        print(json.dumps(info(args.config, args.text, args.vqgan), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
