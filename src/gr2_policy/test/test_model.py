"""Model core: parameter bands, causality, KV cache, overfitting, rotations."""
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from gr2_policy.action_head import decode_actions, encode_actions
from gr2_policy.cli import info
from gr2_policy.config import PAPER_TOTAL_B, PAPER_TRAINABLE, get_config
from gr2_policy.model import GR2, group_tokens, ungroup_tokens
from gr2_policy.rotation import matrix_to_quat, quat_to_matrix

from helpers import episode_batch


@pytest.mark.parametrize("name", ["S", "B", "L", "XL"])
def test_trainable_params_within_10_percent_of_paper(name):
    counts = info(name)
    assert abs(counts["trainable"] / PAPER_TRAINABLE[name] - 1) < 0.10, counts


def test_b_total_with_clip_and_paper_vqgan_within_10_percent():
    counts = info("B", text="clip", vqgan="paper")
    assert abs(counts["total"] / PAPER_TOTAL_B - 1) < 0.10, counts


def test_info_cli_prints_json():
    out = subprocess.run([sys.executable, "-m", "gr2_policy.cli", "info", "--config", "tiny"],
                         capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    assert d["trainable"] > 0 and d["total"] > d["trainable"]


def _model(seed=0, name="tiny", token_group=1):
    torch.manual_seed(seed)
    return GR2(get_config(name, token_group=token_group, embed_codebook=token_group > 1)).eval()


def test_token_groups_are_square_neighbourhoods_in_row_major_order():
    """A 4x4 grid in 2x2 groups: group 0 holds tokens 0, 1, 4, 5 (its rows, row-major), group 1
    tokens 2, 3, 6, 7; ungrouping restores the tokenizer's order, also with a trailing dimension."""
    ids = torch.arange(16).view(1, 16)
    groups = group_tokens(ids, grid=4, t=2)
    assert groups.tolist() == [[[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]]
    assert torch.equal(ungroup_tokens(groups, grid=4, t=2), ids)
    sign = torch.tensor([1.0, -1.0])
    logits = groups[..., None].float() * sign                                    # 1, 4, 4, 2
    assert torch.equal(ungroup_tokens(logits, grid=4, t=2, tail_dims=1), ids[..., None].float() * sign)
    assert torch.equal(group_tokens(ids, grid=4, t=1), ids[..., None])


def test_token_group_keeps_the_context_and_predicts_every_token():
    """token_group 2: a quarter of the image positions, logits for every token in the tokenizer's
    order; a token changed in a frame changes the positions from its group on only."""
    plain, grouped = _model(), _model(token_group=2)
    c1, c2 = plain.config, grouped.config
    assert c2.n_img == c1.n_img and c2.n_pos * 4 == c1.n_pos and c2.group_size == 4
    b = episode_batch(c2, batch=2)
    h, _ = grouped(b)
    assert h.shape[1] == c2.block_size
    logits = grouped.image_logits(h, c2.n_steps)
    assert logits.shape == (2, c2.n_steps - 1, len(c2.views), c2.n_img, c2.vqgan.codebook_size)
    assert torch.isfinite(grouped.loss(b)["loss"])
    b2 = episode_batch(c2, batch=2)
    b2.tokens[:, 1, 0, 5] = (b2.tokens[:, 1, 0, 5] + 1) % c2.vqgan.codebook_size   # row 1, col 1: group 0
    h2, _ = grouped(b2)
    first = grouped.step_start(1)
    torch.testing.assert_close(h[:, :first], h2[:, :first], rtol=0, atol=1e-6)
    assert (h[:, first] - h2[:, first]).abs().max() > 1e-4
    # a token's own group is not seen by its prediction: the logits of tokens 0, 1, 4, 5 (group 0)
    # stay, those of tokens 2, 3, 6, 7 (group 1, predicted after group 0) change
    l2 = grouped.image_logits(h2, c2.n_steps)
    own, next_group = [0, 1, 4, 5], [2, 3, 6, 7]
    torch.testing.assert_close(logits[:, 0, 0, own], l2[:, 0, 0, own], rtol=0, atol=1e-6)
    assert (logits[:, 0, 0, next_group] - l2[:, 0, 0, next_group]).abs().max() > 1e-4
    ctx = episode_batch(c2, batch=2, steps=c2.n_obs_steps)
    sampled = grouped.generate_frame(ctx, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert sampled.shape == (2, len(c2.views), c2.n_img) and int(sampled.max()) < c2.vqgan.codebook_size
    greedy = grouped.generate_frame(ctx)
    # greedy generation is the argmax of the training-order logits given the frame it generates
    def then(x):                            # the context's last step repeated once more
        return torch.cat([x, x[:, -1:]], 1)
    full = dataclasses.replace(ctx, tokens=torch.cat([ctx.tokens, greedy[:, None]], 1),
                               state_pos=then(ctx.state_pos), state_quat=then(ctx.state_quat),
                               gripper_closure=then(ctx.gripper_closure), state_valid=then(ctx.state_valid),
                               actions=None, action_valid=None)
    hf, _ = grouped(full)
    assert torch.equal(grouped.image_logits(hf, c2.n_steps)[:, -1].argmax(-1), greedy)
    with pytest.raises(ValueError, match="does not divide"):
        GR2(get_config("tiny", token_group=3))


@pytest.mark.parametrize("token_group", [1, 2])
def test_causality_future_step_does_not_change_past_outputs(token_group):
    model = _model(token_group=token_group)
    cfg = model.config
    b = episode_batch(cfg, batch=2)
    h1, _ = model(b)
    for t in range(cfg.n_steps - 1):
        b2 = episode_batch(cfg, batch=2)
        b2.tokens[:, t + 1] = (b2.tokens[:, t + 1] + 7) % cfg.vqgan.codebook_size
        b2.state_pos[:, t + 1] += 0.3
        b2.gripper_closure[:, t + 1] = 1 - b2.gripper_closure[:, t + 1]
        h2, _ = model(b2)
        cut = model.step_start(t + 1)
        torch.testing.assert_close(h1[:, :cut], h2[:, :cut], rtol=0, atol=1e-6)
        assert (h1[:, cut:] - h2[:, cut:]).abs().max() > 1e-3  # the change is visible afterwards
        a1 = model.action_head.decode(model.act_hidden(h1, t + 1))
        a2 = model.action_head.decode(model.act_hidden(h2, t + 1))
        torch.testing.assert_close(a1, a2, rtol=0, atol=1e-6)


@pytest.mark.parametrize("token_group", [1, 2])
def test_kv_cache_generation_equals_full_recomputation(token_group):
    model = _model(1, token_group=token_group)
    cfg = model.config
    b = episode_batch(cfg, batch=2, steps=cfg.n_obs_steps)
    cached = model.generate_frame(b, use_cache=True)
    full = model.generate_frame(b, use_cache=False)
    assert torch.equal(cached, full)
    # logits equality along the generated path, not only the argmax
    seq = model.embed(b)
    h_full, cache = model.gpt(seq)
    assert cached.shape == (2, len(cfg.views), cfg.n_img)
    e = model.image_embed(model.group(cached)[:, 0, 0], cfg.n_obs_steps, 0, torch.tensor(0))[:, None]
    h_inc, _ = model.gpt(e, cache)
    h_ref, _ = model.gpt(torch.cat([seq, e], 1))
    torch.testing.assert_close(h_inc[:, -1], h_ref[:, -1], rtol=1e-5, atol=1e-5)


def test_tiny_model_overfits_four_episodes():
    """Threshold: total loss < 0.2 and action L1 < 0.05 (video CE starts at ln(64) = 4.16), <= 400 Adam steps."""
    torch.manual_seed(0)
    model = GR2(get_config("tiny")).train()
    b = episode_batch(model.config, batch=4)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=0.0)
    first = None
    for _ in range(400):
        out = model.loss(b)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
        if out["loss"].item() < 0.1:
            break
    model.eval()
    final = model.loss(b)
    assert first > 4.0
    assert final["loss"].item() < 0.2, {k: v.item() for k, v in final.items()}
    assert final["action_l1"].item() < 0.05, {k: v.item() for k, v in final.items()}


def test_action_encoding_round_trip():
    cfg = get_config("tiny")
    b = episode_batch(cfg, batch=3)
    p0, q0 = b.state_pos[:, 0], b.state_quat[:, 0]
    pos, quat, grip = decode_actions(p0, q0, b.actions[:, 0], cfg.pos_scale)
    again = encode_actions(p0, q0, pos, quat, grip, cfg.pos_scale)
    torch.testing.assert_close(again, b.actions[:, 0], atol=1e-5, rtol=0)


def test_quaternion_matrix_round_trip():
    q = torch.nn.functional.normalize(torch.randn(100, 4), dim=-1)
    q = q * torch.sign(q[:, 3:])
    torch.testing.assert_close(matrix_to_quat(quat_to_matrix(q)), q, atol=1e-4, rtol=0)


def test_codebook_embedding_starts_as_a_no_op_and_skips_missing_ids():
    """embed_codebook added to a trained policy (zero-initialised) changes nothing at first; the
    [MISSING] id (absent views) gets no codebook vector; once trained, codes with similar codebook
    vectors get similar embeddings."""
    torch.manual_seed(0)
    model = GR2(get_config("tiny")).eval()
    c = model.config
    ids = torch.tensor([[0], [5], [c.missing_id]])         # one token per position (token_group 1)
    before = model.token_embed(ids).clone()
    model.enable_codebook_embedding()
    assert c.embed_codebook and torch.equal(model.token_embed(ids), before)
    torch.nn.init.normal_(model.code_proj.weight)
    after = model.token_embed(ids)
    assert not torch.allclose(after[:2], before[:2]) and torch.equal(after[2], before[2])


def test_early_fraction_draws_windows_from_episode_starts():
    import numpy as np

    from gr2_policy.data import WindowSampler

    class Ep:                 # only what WindowSampler.sample touches before window()
        length = 40

    class Reader(list):
        pass

    sampler = WindowSampler(Reader([Ep()]), get_config("tiny"), seed=0, early_fraction=1.0, early_frames=5)
    ends = []
    sampler.window = lambda ep, end: ends.append(end)
    sampler.sample(200)
    assert max(ends) < 5
    uniform = WindowSampler(Reader([Ep()]), get_config("tiny"), seed=0)
    uniform.window = lambda ep, end: ends.append(end)
    ends.clear()
    uniform.sample(400)
    assert max(ends) >= 30 and np.mean(np.array(ends) < 5) < 0.3
    with pytest.raises(ValueError):
        WindowSampler(Reader([Ep()]), get_config("tiny"), seed=0, early_fraction=1.5)


def test_reset_vqgan_moves_a_policy_to_a_larger_vocabulary_keeping_the_rest():
    """Fine-tuning a trained policy onto a new tokenizer with more codes, or the same preset trained
    further: the token table, the next-frame heads and the codebook projection take the new
    vocabulary; the GPT keeps its weights; the policy's own tokenizer changes nothing; a tokenizer
    with another token grid is refused."""
    import copy
    import dataclasses

    from gr2_policy.vqgan import VQGAN
    torch.manual_seed(0)
    model = GR2(get_config("tiny", embed_codebook=True))
    gpt_before = copy.deepcopy(model.gpt.state_dict())
    same = copy.deepcopy(model.vqgan)
    assert model.reset_vqgan(same) == []
    retrained = copy.deepcopy(model.vqgan)            # the same preset trained further: codes moved
    with torch.no_grad():
        retrained.quantizer.codebook.weight.add_(0.01)
    emb_before = model.tok_emb.weight.detach().clone()
    assert model.reset_vqgan(retrained, keep_vocabulary=True) == []   # installed, table and heads kept
    assert torch.equal(model.tok_emb.weight, emb_before)
    torch.testing.assert_close(model.vqgan.quantizer.codebook.weight, retrained.quantizer.codebook.weight)
    with torch.no_grad():
        retrained.quantizer.codebook.weight.add_(0.01)
    assert model.reset_vqgan(retrained) == ["tok_emb", "img_heads", "code_proj"]
    assert not torch.equal(model.tok_emb.weight, emb_before)
    bigger = VQGAN(dataclasses.replace(model.config.vqgan, codebook_size=2 * model.config.vqgan.codebook_size))
    assert model.reset_vqgan(bigger) == ["tok_emb", "img_heads", "code_proj"]
    c = model.config
    assert c.vqgan == bigger.config and model.tok_emb.num_embeddings == c.vocab == 2 * 64 + 1
    assert model.img_heads[0].out_features == c.vqgan.codebook_size
    assert all(torch.equal(v, model.gpt.state_dict()[k]) for k, v in gpt_before.items())
    torch.testing.assert_close(model.vqgan.quantizer.codebook.weight, bigger.quantizer.codebook.weight)
    b = episode_batch(c)
    b.tokens[..., 0] = c.vqgan.codebook_size - 1          # an id only the new vocabulary has
    losses = model.loss(b)
    assert all(torch.isfinite(v) for v in losses.values())
    other_grid = VQGAN(dataclasses.replace(c.vqgan, ch_mult=(1, 2, 2)))
    with pytest.raises(ValueError, match="token layout"):
        model.reset_vqgan(other_grid)
    with pytest.raises(ValueError, match="keep_vocabulary"):
        model.reset_vqgan(VQGAN(dataclasses.replace(c.vqgan, codebook_size=8)), keep_vocabulary=True)


def test_reset_vqgan_moves_a_policy_to_a_finer_grid_in_token_groups():
    """A policy on 4x4 tokens moved to an 8x8-token tokenizer in 2x2 groups keeps its context
    (positions, patch and step embeddings, GPT) and re-learns only the vocabulary's parts."""
    import copy
    import dataclasses

    from gr2_policy.vqgan import VQGAN
    model = _model()
    model.enable_codebook_embedding()
    gpt_before, patch_before = copy.deepcopy(model.gpt.state_dict()), model.patch_emb.detach().clone()
    block = model.config.block_size
    finer = VQGAN(dataclasses.replace(model.config.vqgan, ch_mult=(1, 2, 2)))
    assert model.reset_vqgan(finer, token_group=2) == ["tok_emb", "img_heads", "code_proj"]
    c = model.config
    assert (c.token_group, c.vqgan.grid, c.block_size) == (2, 8, block)
    assert model.tok_emb.num_embeddings == 4 * c.vocab and model.code_proj.in_features == 4 * c.vqgan.embed_dim
    assert torch.equal(model.patch_emb, patch_before)
    assert all(torch.equal(v, model.gpt.state_dict()[k]) for k, v in gpt_before.items())
    losses = model.loss(episode_batch(c))
    assert all(torch.isfinite(v) for v in losses.values())
    assert model.reset_vqgan(copy.deepcopy(model.vqgan)) == []        # its own tokenizer, its own groups
    with pytest.raises(ValueError, match="token layout"):
        model.reset_vqgan(finer, token_group=1)


def test_grow_layers_starts_as_the_same_function_and_then_trains_the_new_blocks():
    """A trained policy deepened by two blocks computes exactly its old outputs (losses and the
    GPT's hidden states); one optimiser step then changes the new blocks; it cannot shrink."""
    torch.manual_seed(0)
    model = GR2(get_config("tiny")).eval()
    b = episode_batch(model.config, batch=2)
    before = model.loss(b)
    hidden, _ = model.gpt(model.embed(b), keep_cache=False)
    n = model.config.n_layer
    assert model.grow_layers(n + 2) == 2 and model.config.n_layer == n + 2 == len(model.gpt.blocks)
    after = model.loss(b)
    for k in ("video", "action_l1"):
        torch.testing.assert_close(after[k], before[k], rtol=0, atol=1e-6)
    torch.testing.assert_close(model.gpt(model.embed(b), keep_cache=False)[0], hidden, rtol=0, atol=1e-6)
    new = model.gpt.blocks[n:]
    start = [p.detach().clone() for p in new.parameters()]
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.loss(b)["loss"].backward()
    opt.step()
    assert any(not torch.equal(p, q) for p, q in zip(new.parameters(), start, strict=True))
    assert model.grow_layers(n + 2) == 0
    with pytest.raises(ValueError, match="cannot grow"):
        model.grow_layers(n)
