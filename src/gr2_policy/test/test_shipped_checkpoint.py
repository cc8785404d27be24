"""The checkpoint shipped with gr2_policy (the default of config/policy.yaml) loads through its
package:// URI, predicts, stays within the size budget, and carries the tokenizer shipped beside it."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gr2_policy.checkpoint import CheckpointError, fingerprint, resolve_checkpoint
from gr2_policy.policy import Observation
from gr2_policy.runtime import load_runtime_policy
from gr2_policy.token_cache import vqgan_fingerprint

URI = "package://gr2_policy/checkpoints/pick_cube"
SOURCE = Path(__file__).resolve().parents[1] / "checkpoints"


def test_policy_yaml_defaults_to_the_shipped_checkpoint():
    import yaml
    params = yaml.safe_load((Path(__file__).resolve().parents[3] / "config" / "policy.yaml").read_text())
    assert params["/**"]["ros__parameters"]["checkpoint"] == URI


def test_shipped_files_and_size_budget():
    # the installed copy (share/gr2_policy/checkpoints/pick_cube) is the source's
    assert fingerprint(resolve_checkpoint(URI))["sha256"] == fingerprint(SOURCE / "pick_cube")["sha256"]
    for name in ("model.safetensors", "config.json", "TRAINING.md", "training.json", "training.png"):
        assert (SOURCE / "pick_cube" / name).is_file(), name
    total = sum(f.stat().st_size for f in SOURCE.rglob("*") if f.is_file())
    assert total <= 50 * 2**20, f"shipped checkpoints are {total / 2**20:.1f} MB (budget 50 MB with the tokenizer)"


def test_shipped_policy_loads_and_predicts():
    loaded = load_runtime_policy(URI)
    assert loaded.trained and loaded.source == URI
    c = loaded.policy.model.config
    r = c.vqgan.resolution
    obs = Observation(images={v: np.full((r, r, 3), 128, np.uint8) for v in c.views},
                      ee_position=np.array([0.45, 0.0, 0.29]), ee_quaternion=np.array([0.7071068, 0.7071068, 0.0, 0.0]),
                      gripper_closure=False)
    out = loaded.policy.predict(obs, "pick up the red cube")
    assert out.positions.shape == (c.chunk_size, 3) and np.isfinite(out.positions).all()
    assert np.allclose(np.linalg.norm(out.quaternions, axis=1), 1.0, atol=1e-5)


def test_shipped_tokenizer_is_the_policys():
    meta = json.loads((SOURCE / "pick_cube" / "config.json").read_text())
    assert meta["extra"]["vqgan_fingerprint"] == vqgan_fingerprint(SOURCE / "pick_cube_vqgan")
    policy = load_file(str(SOURCE / "pick_cube" / "model.safetensors"))
    vq = load_file(str(SOURCE / "pick_cube_vqgan" / "model.safetensors"))
    assert vq and all(torch.equal(policy[f"vqgan.{k}"], v) for k, v in vq.items())
    assert fingerprint(URI)["path"] == URI


def test_unknown_checkpoints_are_clear_errors():
    with pytest.raises(FileNotFoundError, match="not installed"):
        resolve_checkpoint("package://no_such_package/x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_checkpoint("package://gr2_policy/checkpoints/no_such_policy")
    with pytest.raises(CheckpointError):
        load_runtime_policy(str(SOURCE))          # a folder without config.json / model.safetensors
