"""Checkpoints: safetensors weights + one JSON file (format, config, text-encoder identity,
model-input definition).

Why the identity: a policy trained on MiniLM embeddings produces garbage on CLIP embeddings
without any error, so loading compares the stored identity with the encoder in use. The same
holds for the gripper input (model_input.GRIPPER_INPUT): a policy trained on a closed/open flag
reads a measured closure wrongly, so loading compares that too.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .config import GR2Config, VQGANConfig
from .model import GR2
from .model_input import GRIPPER_INPUT
from .vqgan import VQGAN

FORMAT = "gr2-policy/1"
VQGAN_FORMAT = "gr2-vqgan/1"
# Checkpoints written before the gripper input was recorded were trained with this one.
UNRECORDED_GRIPPER_INPUT = "closed_above_0.5"


class CheckpointError(RuntimeError):
    """A folder that is not a checkpoint of the expected format, or does not match the model."""


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}


def save_policy(path: str | Path, model: GR2, text_identity: dict, extra: dict | None = None) -> Path:
    """Write `model` as a policy checkpoint folder at `path`: model.safetensors and config.json
    (format, model config, `text_identity` of the text encoder trained with, `extra`); returns `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(_state(model), str(path / "model.safetensors"))
    meta = {"format": FORMAT, "config": model.config.to_dict(), "text_encoder": text_identity,
            "model_input": {"gripper": GRIPPER_INPUT}, "extra": extra or {}}
    (path / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return path


def read_meta(path: str | Path, expected_format: str) -> dict:
    """The config.json of the checkpoint folder at `path`; CheckpointError when the folder lacks
    config.json or model.safetensors or its format is not `expected_format`."""
    path = Path(path)
    meta_file = path / "config.json"
    if not meta_file.is_file() or not (path / "model.safetensors").is_file():
        raise CheckpointError(f"{path} is not a checkpoint (needs config.json and model.safetensors)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != expected_format:
        raise CheckpointError(f"{path}: format {meta.get('format')!r}, expected {expected_format!r}")
    return meta


def resolve_checkpoint(checkpoint: str) -> str:
    """A checkpoint folder from a path or a `package://<package>/<path>` URI (the ROS convention for
    files a package installs; the shipped policy is `package://gr2_policy/checkpoints/pick_cube`).
    Raises FileNotFoundError when the package or folder does not exist."""
    if not checkpoint.startswith("package://"):
        return checkpoint
    package, _, rel = checkpoint[len("package://"):].partition("/")
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        path = Path(get_package_share_directory(package)) / rel
    except PackageNotFoundError as err:
        raise FileNotFoundError(f"checkpoint {checkpoint}: package {package!r} is not installed") from err
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint {checkpoint}: {path} does not exist")
    return str(path)


def fingerprint(path: str | Path) -> dict:
    """What identifies a checkpoint folder in results: its path (as given, e.g. a package:// URI)
    and the SHA-256 of its weights and config files (first 16 hex digits of each, and of both)."""
    given = str(path)
    path = Path(resolve_checkpoint(given))
    digests = {}
    for name in ("model.safetensors", "config.json"):
        digests[name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    both = hashlib.sha256("".join(digests[n] for n in sorted(digests)).encode()).hexdigest()
    return {"path": given, "sha256": both[:16], **{n: d[:16] for n, d in digests.items()}}


def trained_gripper_input(meta: dict) -> str:
    """The gripper input (model_input.GRIPPER_INPUT) a checkpoint's config.json says it was trained with."""
    return str(meta.get("model_input", {}).get("gripper", UNRECORDED_GRIPPER_INPUT))


def load_policy(path: str | Path, text_identity: dict | None = None,
                map_location: str = "cpu", any_model_input: bool = False) -> tuple[GR2, dict]:
    """Build the model from the stored config and load the weights strictly.

    path: a checkpoint folder or a package:// URI (resolve_checkpoint).
    text_identity: the encoder the caller will use; a mismatch raises CheckpointError.
    any_model_input: accept a checkpoint trained with another gripper input (only to start
    fine-tuning from it, which retrains it on this code's inputs); otherwise CheckpointError.
    """
    path = resolve_checkpoint(str(path))
    meta = read_meta(path, FORMAT)
    trained = trained_gripper_input(meta)
    if not any_model_input and trained != GRIPPER_INPUT:
        raise CheckpointError(f"checkpoint {path} was trained with gripper input {trained!r}; this code's model "
                              f"input is {GRIPPER_INPUT!r} (gr2_policy.model_input.GRIPPER_INPUT): fine-tune it "
                              f"(gr2-model finetune --init {path}) or use a checkpoint of this version")
    if text_identity is not None and meta["text_encoder"] != text_identity:
        raise CheckpointError(f"checkpoint {path} was trained with text encoder {meta['text_encoder']}, "
                              f"but the loaded encoder is {text_identity}")
    config = GR2Config.from_dict(meta["config"])
    model = GR2(config)
    state = load_file(str(Path(path) / "model.safetensors"), device=map_location)
    missing, unexpected = set(model.state_dict()) - set(state), set(state) - set(model.state_dict())
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match its config: missing {sorted(missing)[:5]}, "
                              f"unexpected {sorted(unexpected)[:5]}")
    for k, v in model.state_dict().items():
        if v.shape != state[k].shape:
            raise CheckpointError(f"checkpoint {path}: {k} has shape {tuple(state[k].shape)}, "
                                  f"config expects {tuple(v.shape)}")
    model.load_state_dict(state)
    return model, meta


def save_vqgan(path: str | Path, vqgan: VQGAN, extra: dict | None = None) -> Path:
    """Write `vqgan` as a VQGAN checkpoint folder at `path` (model.safetensors + config.json); returns `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(_state(vqgan), str(path / "model.safetensors"))
    meta = {"format": VQGAN_FORMAT, "config": vqgan.config.__dict__ | {"ch_mult": list(vqgan.config.ch_mult)},
            "extra": extra or {}}
    (path / "config.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return path


def load_vqgan(path: str | Path) -> tuple[VQGAN, dict]:
    """The VQGAN of the checkpoint folder (or package:// URI) at `path` and its config.json;
    CheckpointError for another format."""
    path = resolve_checkpoint(str(path))
    meta = read_meta(path, VQGAN_FORMAT)
    cfg = dict(meta["config"])
    cfg["ch_mult"] = tuple(cfg["ch_mult"])
    vqgan = VQGAN(VQGANConfig(**cfg))
    vqgan.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
    return vqgan, meta
