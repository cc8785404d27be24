"""How much each GPT block of a policy writes into the residual stream, and the policy's size.

    python bench/block_norms.py runs/pick_cube/finetune_stage26/ckpt runs/pick_cube/finetune_stage26_control/ckpt \
        --out bench/results/stage26_block_norms.json

Per checkpoint: trainable parameters (`gr2_policy.model.count_params`, the frozen VQGAN excluded),
the GPT's, and per block the Frobenius norm of its two residual projections (attention output, second
MLP layer: what a block adds to the residual stream is linear in them). Blocks added by
`GR2.grow_layers` start at 0 there; how far they grew in fine-tuning says how much the deeper model
departed from the one it was grown from. Prints one line per checkpoint and writes the JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def block_norms(model) -> dict:
    """{'trainable', 'gpt', 'attention_output', 'mlp_output'}: parameter counts and per-block norms."""
    from gr2_policy.model import count_params
    blocks = model.gpt.blocks
    return {"trainable": count_params(model)["trainable"],
            "gpt": sum(p.numel() for p in model.gpt.parameters()),
            "attention_output": [round(float(b.attn.proj.weight.detach().norm()), 4) for b in blocks],
            "mlp_output": [round(float(b.mlp[2].weight.detach().norm()), 4) for b in blocks]}


def main(argv: list[str] | None = None) -> int:
    from gr2_policy.checkpoint import fingerprint, load_policy
    p = argparse.ArgumentParser(prog="python bench/block_norms.py", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="policy checkpoint folders (or package:// URIs)")
    p.add_argument("--out", type=Path, default=Path("bench/results/block_norms.json"))
    args = p.parse_args(argv)
    rows = []
    for path in args.checkpoints:
        model, _ = load_policy(path, any_model_input=True)
        row = {"checkpoint": path, "fingerprint": fingerprint(path)["sha256"], **block_norms(model)}
        rows.append(row)
        print(f"{path}: {row['trainable'] / 1e6:.2f}M trainable (GPT {row['gpt'] / 1e6:.2f}M); residual projection "
              f"norms per block: attention {row['attention_output']}, MLP {row['mlp_output']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "block_norms", "runs": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
