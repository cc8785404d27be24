"""Model API: GPT's keyword-only constructor, GPT-2 initialisation, optimiser groups, validated config
overrides, the field renames (old checkpoints still load) and predict_actions' result."""
import json
import math
from pathlib import Path

import pytest
import torch

from gr2_policy.action_head import decode_actions
from gr2_policy.config import RENAMED_FIELDS, GR2Config, get_config
from gr2_policy.model import GR2, ActionPrediction
from gr2_policy.train import build_parser
from gr2_policy.transformer import GPT

from helpers import episode_batch

# the config.json of the pick_cube checkpoint shipped at commit e31bb12 (stage 13), written before the renames
OLD_CONFIG = Path(__file__).resolve().parent / "data" / "config_before_renames.json"


def test_gpt_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        GPT(2, 64, 4, 16)   # the positional call whose order could be confused
    gpt = GPT(n_layer=2, n_head=4, n_embd=64, block_size=16)
    assert len(gpt.blocks) == 2 and gpt.blocks[0].attn.n_head == 4 and gpt.ln_f.normalized_shape == (64,)


def test_residual_projections_get_gpt2_scaled_init():
    torch.manual_seed(0)
    cfg = get_config("tiny", n_layer=8, n_embd=128, n_head=4)
    model = GR2(cfg)
    residual = model.gpt.residual_projections()
    assert len(residual) == 2 * cfg.n_layer
    scaled = torch.cat([m.weight.flatten() for m in residual])
    assert scaled.std().item() == pytest.approx(0.02 / math.sqrt(2 * cfg.n_layer), rel=0.05)
    qkv = torch.cat([b.attn.qkv.weight.flatten() for b in model.gpt.blocks])
    assert qkv.std().item() == pytest.approx(0.02, rel=0.05)
    assert all((m.bias == 0).all() for m in residual)


@pytest.mark.parametrize("codebook", [False, True])
@pytest.mark.parametrize("freeze", [False, True])
def test_optimizer_groups_hold_every_trainable_parameter_once_and_decay_only_matrices(codebook, freeze):
    model = GR2(get_config("tiny", embed_codebook=codebook))
    if freeze:   # as --freeze-pretrained
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(("state.", "action_head.")))
    decay, no_decay = model.optimizer_groups(0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    grouped = [id(p) for g in (decay, no_decay) for p in g["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert len(grouped) == len(set(grouped)) and set(grouped) == set(trainable)
    assert all(p.dim() >= 2 for p in decay["params"])
    embeddings = {id(p) for p in model.embedding_parameters()}
    assert not embeddings & {id(p) for p in decay["params"]}
    if not freeze:   # the matrices and the embeddings are where they belong
        assert id(model.gpt.blocks[0].attn.qkv.weight) in {id(p) for p in decay["params"]}
        assert {id(model.tok_emb.weight), id(model.step_emb)} <= {id(p) for p in no_decay["params"]}
    torch.optim.AdamW(model.optimizer_groups(0.1), lr=1e-3)   # a valid AdamW configuration


def test_get_config_refuses_unknown_fields_and_wrong_types():
    with pytest.raises(ValueError, match=r"no field 'n_layers'.*fields: \[.*'n_layer'"):
        get_config("tiny", n_layers=3)
    with pytest.raises(ValueError, match="'history' \\(renamed to 'n_obs_steps'\\)"):
        get_config("tiny", history=3)
    with pytest.raises(TypeError, match="n_layer must be int, got str '4'"):
        get_config("tiny", n_layer="4")
    with pytest.raises(TypeError, match="embed_codebook must be bool"):
        get_config("tiny", embed_codebook=1)
    with pytest.raises(TypeError, match="views must be tuple"):
        get_config("tiny", views="head_camera")
    with pytest.raises(ValueError, match="unknown VQGAN preset"):
        get_config("tiny", vqgan="huge")
    cfg = get_config("tiny", kl_weight=10, views=["head_camera"], n_obs_steps=3)
    assert cfg.kl_weight == 10.0 and isinstance(cfg.kl_weight, float)
    assert cfg.views == ("head_camera",) and cfg.n_obs_steps == 3


def test_config_json_with_the_old_names_loads_as_the_new_names():
    old = json.loads(OLD_CONFIG.read_text())["config"]
    assert set(RENAMED_FIELDS) <= set(old)
    new = {RENAMED_FIELDS.get(k, k): v for k, v in old.items()}
    cfg = GR2Config.from_dict(old)
    assert cfg == GR2Config.from_dict(new)
    assert (cfg.n_obs_steps, cfg.chunk_size, cfg.kl_weight, cfg.action_weight, cfg.video_weight) == (
        old["history"], old["chunk"], old["loss_kl"], old["loss_action"], old["loss_video"])
    assert GR2Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="both 'chunk' and its new name 'chunk_size'"):
        GR2Config.from_dict(new | {"chunk": 10})


def test_predict_actions_returns_decoded_poses():
    torch.manual_seed(0)
    model = GR2(get_config("tiny")).eval()
    cfg = model.config
    b = episode_batch(cfg, batch=2, steps=cfg.n_obs_steps)
    pred = model.predict_actions(b)
    assert isinstance(pred, ActionPrediction)
    k = cfg.chunk_size
    assert pred.positions.shape == (2, k, 3) and pred.quaternions.shape == (2, k, 4)
    assert pred.gripper.shape == (2, k) and pred.actions.shape == (2, k, 10)
    assert pred.hidden.shape[:2] == (2, 1 + cfg.n_obs_steps * cfg.step_len)
    pos, quat, grip = decode_actions(b.state_pos[:, -1], b.state_quat[:, -1], pred.actions, cfg.pos_scale)
    torch.testing.assert_close(pred.positions, pos, rtol=0, atol=0)
    torch.testing.assert_close(pred.quaternions, quat, rtol=0, atol=0)
    assert pred.gripper.min() >= 0 and pred.gripper.max() <= 1
    ids = model.generate_frame(b, pred.hidden, pred.cache)   # continues from the returned cache
    assert ids.shape == (2, len(cfg.views), cfg.n_img)


def test_loss_weight_options_accept_the_old_names(tmp_path):
    from gr2_contract.config import yaml_defaults
    parser = build_parser()
    for flag in ("--kl-weight", "--loss-kl"):
        args = parser.parse_args(["finetune", "--out", "x", flag, "3"])
        assert args.kl_weight == 3.0
    sub = parser._subparsers._group_actions[0].choices["finetune"]
    old = tmp_path / "old.yaml"
    old.write_text("loss_action: 10\nloss_kl: 10\n")
    new = tmp_path / "new.yaml"
    new.write_text("action_weight: 10\nkl_weight: 10\n")
    assert yaml_defaults(sub, old) == yaml_defaults(sub, new) == {"action_weight": 10, "kl_weight": 10}


def test_policy_node_refuses_a_parameter_under_its_old_name():
    """A real rclpy node given `execution_horizon` (now n_action_steps) is refused by name; without
    old names the parameters declare."""
    import os

    import rclpy
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from gr2_policy.policy_node import PolicyNode
    os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int.from_bytes(os.urandom(1), "little") % 100 + 100)
    try:
        old = Node("renamed_check", context=context, parameter_overrides=[Parameter("execution_horizon", value=6)])
        with pytest.raises(ValueError, match="execution_horizon -> n_action_steps"):
            PolicyNode._declare_parameters(old)
        old.destroy_node()
        fresh = Node("renamed_check_ok", context=context)
        params, runtime = PolicyNode._declare_parameters(fresh)
        assert runtime.n_action_steps > 0
        fresh.destroy_node()
    finally:
        rclpy.shutdown(context=context)
