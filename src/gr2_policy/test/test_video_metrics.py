"""Video-prediction metrics (gr2_policy.video_metrics) on constructed inputs (the bench script
bench/video_prediction.py end to end: tests/test_video_prediction_bench.py)."""
import math

import numpy as np
import pytest
import torch

from gr2_policy.config import get_config
from gr2_policy.model import GR2
from gr2_policy.video_metrics import (
    EpisodeTokens,
    copy_last,
    frame_mse,
    mean_ci95,
    open_loop_rollout,
    predict_next_frames,
    psnr_db,
    token_accuracy,
)


def test_token_accuracy_counts_equal_tokens_and_respects_the_mask():
    target = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    pred = torch.tensor([[1, 2, 0, 0], [5, 0, 0, 0]])
    assert token_accuracy(pred, target) == pytest.approx(3 / 8)
    where = torch.tensor([[True, False, True, False], [False] * 4])
    assert token_accuracy(pred, target, where) == pytest.approx(1 / 2)
    assert math.isnan(token_accuracy(pred, target, torch.zeros_like(where)))
    with pytest.raises(ValueError):
        token_accuracy(pred[:, :3], target)


def test_copy_last_is_the_previous_frame_and_scores_zero_on_changed_tokens():
    # 4 frames x 1 view x 4 tokens: token 0 never changes, token 3 changes every frame
    tokens = torch.tensor([[[7, 1, 1, 0]], [[7, 1, 2, 1]], [[7, 3, 2, 2]], [[7, 3, 2, 3]]])
    pred = copy_last(tokens)
    assert torch.equal(pred, tokens[:-1])
    target = tokens[1:]
    changed = target != pred
    # unchanged tokens: 12 predicted, changed: token 3 in all 3 frames + token 2 once + token 1 once
    assert int(changed.sum()) == 5
    assert token_accuracy(pred, target) == pytest.approx(7 / 12)
    assert token_accuracy(pred, target, changed) == 0.0
    with pytest.raises(ValueError):
        copy_last(tokens[:1])


def test_psnr_of_known_errors():
    a = np.full((2, 8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[0] += 5                                   # frame 0 off by 5 everywhere (MSE 25), frame 1 exact
    mse = frame_mse(b, a)
    assert mse.tolist() == [25.0, 0.0]
    assert psnr_db(mse[0]) == pytest.approx(10 * math.log10(255 ** 2 / 25))       # 34.15 dB
    # pooled: the MSE is averaged over frames before the log, so an exact frame keeps it finite
    assert psnr_db(mse) == pytest.approx(10 * math.log10(255 ** 2 / 12.5))
    assert psnr_db(0.0) == math.inf
    with pytest.raises(ValueError):
        frame_mse(a[:, :4], a)


def test_mean_ci95_is_the_student_t_interval():
    s = mean_ci95([1.0, 2.0, 3.0, math.nan])
    assert s["n"] == 3 and s["mean"] == pytest.approx(2.0)
    half = 4.302652729911275 / math.sqrt(3)      # t(0.975, 2) * sd 1 / sqrt(3)
    assert s["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert mean_ci95([4.0]) == {"mean": 4.0, "ci95": [4.0, 4.0], "n": 1}
    assert mean_ci95([])["mean"] is None


def _tiny_episode(cfg, T: int = 6, seed: int = 0) -> EpisodeTokens:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=torch.float32)
    return EpisodeTokens(
        tokens=torch.randint(0, cfg.vqgan.codebook_size, (T, len(cfg.views), cfg.n_img), generator=g),
        state_pos=torch.stack([0.4 + 0.01 * t, 0.0 * t, 0.3 - 0.01 * t], -1),
        state_quat=torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(T, 4).clone(),
        gripper_closure=(t > T / 2).float(), text=torch.randn(cfg.text.dim, generator=g))


def test_predictions_agree_with_the_model_and_with_each_other():
    torch.manual_seed(0)
    cfg = get_config("tiny")
    model = GR2(cfg).eval()
    ep = _tiny_episode(cfg)
    pred = predict_next_frames(model, ep, batch_size=2)          # batches of 2 windows: 3 batches
    M, V, N = ep.length - 1, len(cfg.views), cfg.n_img
    for x in (pred.target, pred.previous, pred.teacher_forced, pred.generated):
        assert x.shape == (M, V, N)
    assert pred.nll.shape == (M, V) and torch.isfinite(pred.nll).all()
    assert torch.equal(pred.target, ep.tokens[1:]) and torch.equal(pred.previous, ep.tokens[:-1])
    # the first token of a frame has no earlier token of the frame: teacher forcing and generation
    # see the same context there
    assert torch.equal(pred.teacher_forced[:, 0, 0], pred.generated[:, 0, 0])
    # generation from the real context is what the model's generate_frame gives for the same window
    # (frame 4 from frames 2, 3), and a one-frame open-loop rollout is the same prediction
    from gr2_policy.video_metrics import _batch
    idx = torch.tensor([[2, 3]])
    assert torch.equal(model.generate_frame(_batch(ep, idx, ep.tokens[idx]))[0], pred.generated[3])
    roll = open_loop_rollout(model, ep, [1, 3], 1)
    assert torch.equal(roll[:, 0], pred.generated[[1, 3]])
    # teacher-forced NLL is the training loss's video term on the predicted step
    full = _batch(ep, torch.tensor([[2, 3, 4]]), ep.tokens[torch.tensor([[2, 3, 4]])])
    with torch.no_grad():
        logits = model.image_logits(model(full, keep_cache=False)[0], 3)[0, -1]
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ep.tokens[4].flatten())
    assert pred.nll[3].mean() == pytest.approx(float(expected), rel=1e-5)


def test_open_loop_rollout_feeds_back_its_own_frames():
    torch.manual_seed(1)
    cfg = get_config("tiny")
    model = GR2(cfg).eval()
    ep = _tiny_episode(cfg, T=7)
    roll = open_loop_rollout(model, ep, [1, 2], 3)
    assert roll.shape == (2, 3, len(cfg.views), cfg.n_img)
    # step 2 of the rollout from frame 1 predicts frame 3 from (real frame 1, predicted frame 2)
    from gr2_policy.video_metrics import _batch
    ctx = torch.stack([ep.tokens[1], roll[0, 0]])[None]
    assert torch.equal(model.generate_frame(_batch(ep, torch.tensor([[1, 2]]), ctx))[0], roll[0, 1])
    with pytest.raises(ValueError):
        open_loop_rollout(model, ep, [4], 3)                        # frames 5..7 of a 7-frame episode
