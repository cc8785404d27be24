"""VQGAN image tokenizer: conv encoder -> vector quantiser -> conv decoder (+ PatchGAN critic).

Follows the taming-transformers layout (Esser et al., the paper's ref. [7]) written from the
description, not copied. No pretrained perceptual network exists offline here, so training
uses L1 + adversarial (hinge) + codebook/commitment losses only.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import VQGANConfig


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, ch // 4) if ch >= 8 else 1, ch, eps=1e-6)


class ResBlock(nn.Module):
    """Two GroupNorm-SiLU-3x3 conv layers with a residual connection (1x1 conv when `cin` != `cout`)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.block = nn.Sequential(_norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                   _norm(cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.skip(x) + self.block(x)


class AttnBlock(nn.Module):
    """Single-head spatial self-attention, used only at the lowest resolution."""
    def __init__(self, ch: int):
        super().__init__()
        self.norm = _norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(y.transpose(-1, -2).reshape(b, c, h, w))


def _mid(ch: int, attn: bool) -> nn.Sequential:
    return nn.Sequential(ResBlock(ch, ch), AttnBlock(ch) if attn else nn.Identity(), ResBlock(ch, ch))


class Encoder(nn.Module):
    """Image (B, 3, R, R) in [-1, 1] -> latent (B, z_channels, g, g), g = R / 2^(len(ch_mult) - 1):
    residual blocks per `ch_mult` level, a stride-2 convolution between levels."""

    def __init__(self, c: VQGANConfig):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, c.channels, 3, padding=1)]
        cin = c.channels
        for level, mult in enumerate(c.ch_mult):
            cout = c.channels * mult
            for _ in range(c.num_res_blocks):
                layers.append(ResBlock(cin, cout))
                cin = cout
                if c.attn_at_lowest and level == len(c.ch_mult) - 1:
                    layers.append(AttnBlock(cin))
            if level != len(c.ch_mult) - 1:
                layers.append(nn.Conv2d(cin, cin, 3, stride=2, padding=1))
        layers += [_mid(cin, c.attn_at_lowest), _norm(cin), nn.SiLU(), nn.Conv2d(cin, c.z_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """Latent (B, z_channels, g, g) -> image (B, 3, R, R): the Encoder's mirror, nearest-neighbour upsampling."""

    def __init__(self, c: VQGANConfig):
        super().__init__()
        cin = c.channels * c.ch_mult[-1]
        layers: list[nn.Module] = [nn.Conv2d(c.z_channels, cin, 3, padding=1), _mid(cin, c.attn_at_lowest)]
        for level in reversed(range(len(c.ch_mult))):
            cout = c.channels * c.ch_mult[level]
            for _ in range(c.num_res_blocks + 1):
                layers.append(ResBlock(cin, cout))
                cin = cout
                if c.attn_at_lowest and level == len(c.ch_mult) - 1:
                    layers.append(AttnBlock(cin))
            if level != 0:
                layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(cin, cin, 3, padding=1)]
        layers += [_norm(cin), nn.SiLU(), nn.Conv2d(cin, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class VectorQuantizer(nn.Module):
    """Nearest-codebook lookup with the straight-through gradient estimator."""
    def __init__(self, n: int, dim: int, beta: float):
        super().__init__()
        self.beta = beta
        self.codebook = nn.Embedding(n, dim)
        self.codebook.weight.data.uniform_(-1.0 / n, 1.0 / n)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) -> (B, H, W) codebook ids."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        w = self.codebook.weight
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ w.t() + w.pow(2).sum(1)[None]
        return d.argmin(1).reshape(z.shape[0], z.shape[2], z.shape[3])

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, H, W) ids -> (B, D, H, W) code vectors."""
        return self.codebook(ids).permute(0, 3, 1, 2)

    def forward(self, z):
        ids = self.indices(z)
        zq = self.lookup(ids)
        loss = F.mse_loss(zq, z.detach()) + self.beta * F.mse_loss(z, zq.detach())
        zq = z + (zq - z).detach()
        return zq, ids, loss


class VQGAN(nn.Module):
    """Frames in [-1, 1], shape (B, 3, R, R) <-> token grids (B, R/f, R/f)."""
    def __init__(self, c: VQGANConfig):
        super().__init__()
        self.config = c
        self.encoder = Encoder(c)
        self.quant_conv = nn.Conv2d(c.z_channels, c.embed_dim, 1)
        self.quantizer = VectorQuantizer(c.codebook_size, c.embed_dim, c.beta)
        self.post_quant_conv = nn.Conv2d(c.embed_dim, c.z_channels, 1)
        self.decoder = Decoder(c)

    def check_frames(self, x: torch.Tensor) -> None:
        r = self.config.resolution
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != r or x.shape[3] != r:
            raise ValueError(f"VQGAN expects frames of shape (B, 3, {r}, {r}), got {tuple(x.shape)}")

    def forward(self, x):
        self.check_frames(x)
        zq, ids, qloss = self.quantizer(self.quant_conv(self.encoder(x)))
        return self.decoder(self.post_quant_conv(zq)), ids, qloss

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.check_frames(x)
        return self.quantizer.indices(self.quant_conv(self.encoder(x)))

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(self.quantizer.lookup(ids))).clamp(-1, 1)


class PatchDiscriminator(nn.Module):
    """PatchGAN critic: a logit per image patch."""
    def __init__(self, c: VQGANConfig):
        super().__init__()
        ch = c.disc_channels
        layers: list[nn.Module] = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, c.disc_layers + 1):
            cin, cout = ch * min(2 ** (i - 1), 8), ch * min(2 ** i, 8)
            stride = 2 if i < c.disc_layers else 1
            layers += [nn.Conv2d(cin, cout, 4, stride, 1), _norm(cout), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(cout, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-batch PSNR in dB for frames in [-1, 1]."""
    mse = ((x.clamp(-1, 1) - y) / 2).pow(2).mean()
    return -10 * torch.log10(mse.clamp_min(1e-10))
