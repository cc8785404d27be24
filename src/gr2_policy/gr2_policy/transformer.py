"""GPT-style causal transformer with an optional KV cache (nanoGPT spirit).

Why a cache: video generation emits one image token per forward step; re-running the whole
context for every token would cost O(T^2) passes instead of O(T).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class KVCache:
    """Per-layer keys/values of the tokens seen so far, preallocated to the model's block size.

    Why preallocated: growing tensors with torch.cat copies the whole cache every token, and
    fixed storage keeps allocations out of the per-token loop. The cache is extended in place.
    """
    def __init__(self, n_layer: int, max_len: int):
        self.n_layer, self.max_len = n_layer, max_len
        self.k: torch.Tensor | None = None     # (n_layer, B, heads, max_len, head_dim)
        self.v: torch.Tensor | None = None
        self.length = 0

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this layer's new keys/values; return all keys/values up to and including them."""
        b, h, t, d = k.shape
        if self.k is None:
            self.k = k.new_empty(self.n_layer, b, h, self.max_len, d)
            self.v = v.new_empty(self.n_layer, b, h, self.max_len, d)
        end = self.length + t
        if end > self.max_len:
            raise ValueError(f"sequence of {end} tokens exceeds the block size {self.max_len}")
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over (B, T, n_embd); with a KV cache the new tokens attend
    to every cached one and causally among themselves."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        assert n_embd % n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout

    def forward(self, x, cache: KVCache | None, layer: int):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        p = 0
        if cache is not None:
            p = cache.length
            k, v = cache.append(layer, k, v)
        drop = self.dropout if self.training else 0.0
        if p == 0:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop)
        elif t == 1:   # one new token attends to everything: plain matmuls, no per-length kernel plans
            att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
            y = torch.softmax(att.float(), dim=-1).to(v.dtype) @ v
        else:          # a new block attends to the whole past and causally within itself
            mask = torch.ones(t, p + t, dtype=torch.bool, device=x.device).tril(diagonal=p)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.proj(y)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(LN(x)), then + MLP(LN(x)) with a 4x hidden width."""

    def __init__(self, n_embd: int, n_head: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x, cache: KVCache | None, layer: int):
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """A stack of pre-norm blocks over already-embedded tokens (B, T, n_embd), T <= block_size.

    Keyword-only arguments, named as in GR2Config, so that n_head and n_embd cannot be swapped.
    """
    def __init__(self, *, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        self.block_size = block_size
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)

    def residual_projections(self) -> list[nn.Linear]:
        """The layers whose output is added to the residual stream: per block the attention output
        projection and the MLP's second linear layer (GPT-2 scales their initialisation)."""
        return [m for b in self.blocks for m in (b.attn.proj, b.mlp[2])]

    def forward(self, x: torch.Tensor, cache: KVCache | None = None,
                keep_cache: bool = True) -> tuple[torch.Tensor, KVCache | None]:
        """x (B, T, d) continues the sequence held in `cache` (a new one when None).

        keep_cache=False (training): no cache at all, so autograd never sees in-place writes.
        """
        if keep_cache and cache is None:
            cache = KVCache(len(self.blocks), self.block_size)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += x.shape[1]
        return self.ln_f(x), cache
