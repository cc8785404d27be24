"""Conditional-VAE action head: a k-step Cartesian trajectory (pose + gripper) from one token.

Why a cVAE (paper sec. 2.1, refs. [17-19]): demonstrations are multi-modal; the latent absorbs
the mode during training (encoder sees the ground-truth chunk), and inference decodes the prior
mean z = 0 so one forward pass gives a deterministic chunk.

Action representation (per step j of k, relative to the current EE pose p0, R0 in base_link):
position (p_j - p0) / pos_scale, rotation 6D(R0^T R_j), gripper command 0..1  -> 10 numbers.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rotation import matrix_to_6d, matrix_to_quat, quat_to_matrix, sixd_to_matrix

ACTION_DIM = 10


def _mlp(din: int, dhidden: int, dout: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers - 1):
        mods += [nn.Linear(din if i == 0 else dhidden, dhidden), nn.GELU()]
    mods.append(nn.Linear(din if layers == 1 else dhidden, dout))
    return nn.Sequential(*mods)


def encode_actions(p0, q0, pos, quat, grip, pos_scale: float) -> torch.Tensor:
    """Absolute future poses (..., k, 3/4) + gripper (..., k) -> normalised (..., k, 10)."""
    r0 = quat_to_matrix(q0).unsqueeze(-3)
    rel = r0.transpose(-1, -2) @ quat_to_matrix(quat)
    dpos = (pos - p0.unsqueeze(-2)) / pos_scale
    return torch.cat([dpos, matrix_to_6d(rel), grip.unsqueeze(-1)], dim=-1)


def decode_actions(p0, q0, a: torch.Tensor, pos_scale: float):
    """Inverse of encode_actions: returns positions (..., k, 3), quats xyzw (..., k, 4), gripper (..., k)."""
    r0 = quat_to_matrix(q0).unsqueeze(-3)
    pos = p0.unsqueeze(-2) + pos_scale * a[..., :3]
    quat = matrix_to_quat(r0 @ sixd_to_matrix(a[..., 3:9]))
    return pos, quat, a[..., 9].clamp(0.0, 1.0)


class CVAEActionHead(nn.Module):
    """The cVAE (module docstring) from the [ACT] hidden state (N, n_embd) to a chunk (N, k, 10).

    Training encodes the target chunk into the latent (`loss`); inference decodes z = 0 (`decode`).
    """

    def __init__(self, n_embd: int, chunk: int, latent_dim: int, layers: int):
        super().__init__()
        self.chunk, self.latent_dim = chunk, latent_dim
        self.encoder = _mlp(n_embd + chunk * ACTION_DIM, n_embd, 2 * latent_dim, layers)
        self.decoder = _mlp(n_embd + latent_dim, n_embd, chunk * ACTION_DIM, layers)

    def decode(self, h: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if z is None:
            z = h.new_zeros(h.shape[:-1] + (self.latent_dim,))
        out = self.decoder(torch.cat([h, z], dim=-1)).view(h.shape[:-1] + (self.chunk, ACTION_DIM))
        # gripper channel is a probability-like command in 0..1
        return torch.cat([out[..., :9], torch.sigmoid(out[..., 9:])], dim=-1)

    def prior_error(self, h: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
        """Validation metrics of the chunk decoded from the prior mean z = 0, as at inference.

        Returns (L1 over the normalised chunk, mean distance between the predicted and target
        LAST positions in normalised units; times pos_scale = metres).
        """
        h, target = h[mask], target[mask]
        if not h.shape[0]:
            zero = h.sum() * 0.0
            return zero, zero
        pred = self.decode(h)
        end = (pred[:, -1, :3] - target[:, -1, :3]).norm(dim=-1).mean()
        return F.l1_loss(pred, target), end

    def loss(self, h: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
        """h (N, d), target (N, k, 10), mask (N,) bool -> (L1, KL) averaged over valid rows."""
        h, target = h[mask], target[mask]
        if h.shape[0] == 0:
            zero = h.sum() * 0.0
            return zero, zero
        stats = self.encoder(torch.cat([h, target.flatten(-2)], dim=-1))
        mu, logvar = stats.chunk(2, dim=-1)
        logvar = logvar.clamp(-10, 10)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        pred = self.decode(h, z)
        l1 = F.l1_loss(pred, target)
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)).mean()
        return l1, kl
