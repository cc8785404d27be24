"""bench/block_norms.py: blocks added by GR2.grow_layers read 0, the trained ones do not, and the
counts are the model's; the command writes them for a saved checkpoint."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from gr2_policy.config import get_config
from gr2_policy.model import GR2, count_params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from block_norms import block_norms, main  # noqa: E402


def test_grown_blocks_read_zero_and_the_counts_are_the_models(tmp_path):
    torch.manual_seed(0)
    model = GR2(get_config("tiny"))
    n = model.config.n_layer
    model.grow_layers(n + 1)
    row = block_norms(model)
    assert len(row["attention_output"]) == len(row["mlp_output"]) == n + 1
    assert row["attention_output"][n] == row["mlp_output"][n] == 0.0
    assert min(row["attention_output"][:n] + row["mlp_output"][:n]) > 0.0
    assert row["trainable"] == count_params(model)["trainable"]
    assert row["gpt"] == sum(p.numel() for p in model.gpt.parameters())

    out = tmp_path / "norms.json"
    assert main(["package://gr2_policy/checkpoints/pick_cube", "--out", str(out)]) == 0
    shipped = json.loads(out.read_text())["runs"][0]
    assert len(shipped["attention_output"]) == 4 and shipped["fingerprint"]
