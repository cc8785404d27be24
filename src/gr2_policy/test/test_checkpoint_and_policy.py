"""Checkpoint round trip / incompatibility, inference API and bad-input errors."""
import numpy as np
import pytest
import torch

from gr2_policy.checkpoint import CheckpointError, load_policy, load_vqgan, save_policy, save_vqgan
from gr2_policy.config import TextEncoderConfig, get_config
from gr2_policy.model import GR2
from gr2_policy.policy import GR2Policy, Observation
from gr2_policy.text_encoder import load_text_encoder

from helpers import episode_batch


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder(TextEncoderConfig(kind="minilm"))


@pytest.fixture(params=[1, 2], ids=["token", "2x2_group"])
def model(request):
    """A tiny policy with a GPT position per token, and one with 2x2 token groups."""
    torch.manual_seed(0)
    return GR2(get_config("tiny", token_group=request.param)).eval()


def test_checkpoint_round_trip_is_bit_exact(tmp_path, model, minilm):
    save_policy(tmp_path / "ckpt", model, minilm.identity)
    loaded, meta = load_policy(tmp_path / "ckpt", minilm.identity)
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    batch = episode_batch(model.config, batch=2)
    assert torch.equal(model(batch)[0], loaded.eval()(batch)[0])


def test_incompatible_checkpoint_fails_clearly(tmp_path, model, minilm):
    save_policy(tmp_path / "ckpt", model, minilm.identity)
    other = dict(minilm.identity, kind="clip", fingerprint="0" * 16)
    with pytest.raises(CheckpointError, match="text encoder"):
        load_policy(tmp_path / "ckpt", other)
    # weights of a different architecture under this config
    save_policy(tmp_path / "big", GR2(get_config("tiny", n_embd=96)), minilm.identity)
    (tmp_path / "big" / "config.json").write_text((tmp_path / "ckpt" / "config.json").read_text())
    with pytest.raises(CheckpointError, match="shape"):
        load_policy(tmp_path / "big")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_policy(tmp_path / "nothing")


def test_checkpoint_of_another_gripper_input_is_refused(tmp_path, model, minilm):
    import json

    from gr2_policy.model_input import GRIPPER_INPUT
    save_policy(tmp_path / "ckpt", model, minilm.identity)
    meta_file = tmp_path / "ckpt" / "config.json"
    meta = json.loads(meta_file.read_text())
    assert meta["model_input"] == {"gripper": GRIPPER_INPUT}
    del meta["model_input"]           # a checkpoint from before the input was recorded: a flag
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="closed_above_0.5"):
        load_policy(tmp_path / "ckpt", minilm.identity)
    loaded, _ = load_policy(tmp_path / "ckpt", minilm.identity, any_model_input=True)   # fine-tuning's --init
    assert loaded.config == model.config


def test_vqgan_checkpoint_round_trip(tmp_path, model):
    save_vqgan(tmp_path / "vq", model.vqgan)
    vq, _ = load_vqgan(tmp_path / "vq")
    for k, v in model.vqgan.state_dict().items():
        assert torch.equal(v, vq.state_dict()[k])


def _obs(cfg, rng, **kw):
    r = cfg.vqgan.resolution
    d = dict(images={v: rng.integers(0, 255, (r, r, 3), dtype=np.uint8) for v in cfg.views},
             ee_position=np.array([0.4, 0.0, 0.3]), ee_quaternion=np.array([0.0, 1.0, 0.0, 0.0]),
             gripper_closure=False, stamp=12.5)
    d.update(kw)
    return Observation(**d)


def test_predict_returns_a_chunk_and_frames(model, minilm):
    policy = GR2Policy(model, minilm)
    rng = np.random.default_rng(0)
    cfg = model.config
    for _ in range(cfg.n_obs_steps + 1):
        out = policy.predict(_obs(cfg, rng), "pick up the red cube", predict_frames=True)
    assert out.positions.shape == (cfg.chunk_size, 3) and out.quaternions.shape == (cfg.chunk_size, 4)
    np.testing.assert_allclose(np.linalg.norm(out.quaternions, axis=1), 1.0, atol=1e-5)
    assert out.gripper.min() >= 0 and out.gripper.max() <= 1
    assert out.dt == cfg.action_dt and out.stamp == 12.5 and out.frame_id == "base_link"
    r = cfg.vqgan.resolution
    assert set(out.predicted_frames) == set(cfg.views)
    assert out.predicted_frames[cfg.views[0]].shape == (r, r, 3)


def test_bad_input_raises_clear_errors(model, minilm):
    policy = GR2Policy(model, minilm)
    cfg = model.config
    rng = np.random.default_rng(0)
    good = _obs(cfg, rng)
    with pytest.raises(ValueError, match="expected a"):
        policy.predict(_obs(cfg, rng, images={v: np.zeros((48, 48, 3), np.uint8) for v in cfg.views}), "go")
    with pytest.raises(ValueError, match="missing view"):
        policy.predict(_obs(cfg, rng, images={cfg.views[0]: good.images[cfg.views[0]]}), "go")
    with pytest.raises(ValueError, match="empty"):
        policy.predict(good, "   ")
    with pytest.raises(ValueError, match="tokens long"):
        policy.predict(good, "pick up the cube " * 40)
    with pytest.raises(ValueError, match="unit length"):
        policy.predict(_obs(cfg, rng, ee_quaternion=np.array([0.0, 0.0, 0.0, 2.0])), "go")
    assert len(policy.history) == 0  # rejected observations never enter the history


def test_package_uris_load_like_folders():
    """Fine-tuning and evaluating the shipped policy by its package:// URI (the README's commands)."""
    from gr2_policy.checkpoint import load_policy, load_vqgan, resolve_checkpoint
    uri = "package://gr2_policy/checkpoints/pick_cube"
    model, meta = load_policy(uri)
    assert meta == load_policy(resolve_checkpoint(uri))[1]
    vq, _ = load_vqgan("package://gr2_policy/checkpoints/pick_cube_vqgan")
    assert vq.config == model.config.vqgan
