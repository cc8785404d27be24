"""Synthetic, seeded inputs for the model tests (no data files needed)."""
from __future__ import annotations

import math

import torch

from gr2_policy.action_head import encode_actions
from gr2_policy.config import GR2Config
from gr2_policy.model import Batch


def episode_batch(cfg: GR2Config, batch: int = 4, steps: int | None = None, seed: int = 0) -> Batch:
    """`batch` episodes of `steps` steps: random image tokens and a smooth EE path with a grasp."""
    g = torch.Generator().manual_seed(seed)
    S = cfg.n_steps if steps is None else steps
    k = cfg.chunk_size
    T = S + k
    t = torch.arange(T, dtype=torch.float32)
    phase = torch.rand(batch, 1, generator=g) * 2 * math.pi
    pos = torch.stack([0.4 + 0.1 * torch.cos(0.2 * t + phase), 0.1 * torch.sin(0.2 * t + phase),
                       0.3 + 0.01 * t.expand(batch, T)], -1)
    yaw = 0.05 * t + phase
    quat = torch.stack([torch.zeros_like(yaw), torch.zeros_like(yaw), torch.sin(yaw / 2), torch.cos(yaw / 2)], -1)
    grip = (t[None] > T / 2 + phase).float()
    idx = torch.arange(S)[:, None] + torch.arange(1, k + 1)[None]                      # S,k
    actions = encode_actions(pos[:, :S], quat[:, :S], pos[:, idx], quat[:, idx], grip[:, idx], cfg.pos_scale)
    tokens = torch.randint(0, cfg.vqgan.codebook_size, (batch, S, len(cfg.views), cfg.n_img), generator=g)
    return Batch(text=torch.randn(batch, cfg.text.dim, generator=g), tokens=tokens,
                 state_pos=pos[:, :S], state_quat=quat[:, :S], gripper_closure=grip[:, :S],
                 state_valid=torch.ones(batch, S, dtype=torch.bool), actions=actions,
                 action_valid=torch.ones(batch, S, dtype=torch.bool))
