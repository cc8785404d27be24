"""Predicted-video quality: next-frame token accuracy, PSNR of decoded frames, open-loop rollouts.

ROS-free; `bench/video_prediction.py` runs it on held-out episodes. An episode enters as
`EpisodeTokens` (the VQGAN tokens of its frames and the robot state the model reads), and the
model's next-frame predictions come back beside two references:

- teacher forcing (the paper's video-prediction loss, and `GR2.loss`): the context is the real
  episode. `NextFramePredictions.teacher_forced` is the argmax of every next-frame token given
  the real context AND the real earlier tokens of the same frame (what the training loss scores);
  `.generated` is the whole next frame generated greedily token by token from the real context
  (what `GR2Policy.predict(predict_frames=True)` outputs; what is decoded and compared in pixels).
- the "copy the last frame" baseline: frame t's tokens as the prediction of frame t+1. In a
  10 fps episode most of each view stays put from one frame to the next, so a model has to beat
  this to show it predicts motion; `token_accuracy(..., where=changed)` scores only the tokens
  that do change, where copy-last is 0 by construction.

PSNR convention: 8-bit frames (0..255), the squared error averaged over the pixels and channels
of all compared frames of an episode before the log (as `vqgan.psnr` does over a batch), so a
copied frame that happens to match exactly does not make the mean infinite.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .model import GR2, Batch


@dataclass
class EpisodeTokens:
    """One episode as the video metrics read it; T frames, V = the model's views in its order.

    tokens (T, V, n_img) long VQGAN ids; state_pos (T, 3) metres, base_link; state_quat (T, 4)
    x, y, z, w; gripper_closure (T,) 0 open .. 1 closed; text (text_dim,) the instruction's
    frozen embedding.
    """
    tokens: torch.Tensor
    state_pos: torch.Tensor
    state_quat: torch.Tensor
    gripper_closure: torch.Tensor
    text: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.tokens.shape[0])


@dataclass
class NextFramePredictions:
    """Predictions of frames 1..T-1 of an episode, each from the real frames before it (M = T-1).

    target (M, V, n_img): the VQGAN tokens of the real frames 1..T-1. previous (M, V, n_img): of
    frames 0..T-2 (the copy-last prediction). teacher_forced (M, V, n_img): per-token argmax with
    the real earlier tokens of the frame given (its earlier token groups when token_group > 1).
    generated (M, V, n_img): greedy whole frames.
    nll (M, V): mean teacher-forced cross-entropy (nats per token) of the real tokens.
    """
    target: torch.Tensor
    previous: torch.Tensor
    teacher_forced: torch.Tensor
    generated: torch.Tensor
    nll: torch.Tensor


# ---------------- metrics on constructed inputs ----------------
def token_accuracy(pred: torch.Tensor, target: torch.Tensor, where: torch.Tensor | None = None) -> float:
    """Fraction of tokens of `pred` equal to `target` (same shape, any), pooled over all of them;
    only where `where` (bool, same shape) is True when given. NaN when no token counts."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    hit = pred == target
    if where is not None:
        if where.shape != hit.shape:
            raise ValueError(f"mask {tuple(where.shape)} does not match the tokens {tuple(hit.shape)}")
        hit = hit[where]
    return float(hit.float().mean()) if hit.numel() else math.nan


def copy_last(tokens: torch.Tensor) -> torch.Tensor:
    """The copy-last-frame baseline: (T, ...) frames -> the predictions (T-1, ...) of frames 1..T-1,
    i.e. frames 0..T-2 (works for token grids and pixel frames alike)."""
    if tokens.shape[0] < 2:
        raise ValueError("copy-last needs at least 2 frames")
    return tokens[:-1]


def frame_mse(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(..., H, W, C) uint8 frames -> (...,) mean squared error per frame in 8-bit units (0..255^2)."""
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or pred.ndim < 3:
        raise ValueError(f"frames {pred.shape} and {target.shape} must be equal (..., H, W, C) arrays")
    diff = pred.astype(np.float64) - target.astype(np.float64)
    return (diff * diff).mean(axis=(-3, -2, -1))


def psnr_db(mse: float | np.ndarray, max_value: float = 255.0) -> float:
    """PSNR in dB of a mean squared error (an array is averaged first: the module's pooling);
    inf for a zero error."""
    m = float(np.mean(mse))
    return math.inf if m == 0.0 else 10.0 * math.log10(max_value * max_value / m)


def mean_ci95(values) -> dict:
    """Mean over episodes with a two-sided 95% Student-t interval ([mean, mean] for one value);
    NaN values are left out. Returns {"mean", "ci95": [lo, hi], "n"} (None mean for n = 0)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        return {"mean": None, "ci95": [None, None], "n": 0}
    mean = float(v.mean())
    if n == 1:
        return {"mean": mean, "ci95": [mean, mean], "n": 1}
    from scipy.stats import t
    half = float(t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


# ---------------- running the model ----------------
def context_indices(end: int, n_obs: int) -> np.ndarray:
    """Frame indices of the n_obs-step context ending at frame `end`: the window sampler's rule,
    episode starts padded by repeating frame 0 (data.WindowSampler, GR2Policy)."""
    return np.clip(np.arange(end - n_obs + 1, end + 1), 0, None)


def _batch(ep: EpisodeTokens, idx: torch.Tensor, tokens: torch.Tensor) -> Batch:
    """Batch of B windows: frame indices idx (B, S) for the robot state, tokens (B, S, V, n_img)."""
    B, S = idx.shape
    dev = tokens.device
    return Batch(text=ep.text.to(dev).float()[None].expand(B, -1), tokens=tokens,
                 state_pos=ep.state_pos[idx].to(dev).float(), state_quat=ep.state_quat[idx].to(dev).float(),
                 gripper_closure=ep.gripper_closure[idx].to(dev).float(),
                 state_valid=torch.ones(B, S, dtype=torch.bool, device=dev))


@torch.no_grad()
def predict_next_frames(model: GR2, ep: EpisodeTokens, batch_size: int = 32) -> NextFramePredictions:
    """Every frame 1..T-1 of `ep` predicted from the real n_obs frames before it (module docstring).

    One forward pass over the window [context, real next frame] scores the next frame's tokens
    under teacher forcing; `GR2.generate_frame` on the context alone generates it greedily.
    """
    c = model.config
    h, T = c.n_obs_steps, ep.length
    if T < 2:
        raise ValueError(f"episode of {T} frame(s): nothing to predict")
    dev = next(model.parameters()).device
    tokens = ep.tokens.to(dev)
    tf, gen, nll = [], [], []
    for lo in range(0, T - 1, batch_size):
        ends = range(lo, min(T - 1, lo + batch_size))        # context ends at t, predicts t+1
        idx = torch.as_tensor(np.stack([np.append(context_indices(t, h), t + 1) for t in ends]))
        full = _batch(ep, idx, tokens[idx])                  # (B, h+1) steps: context + real next frame
        hidden, _ = model(full, keep_cache=False)
        logits = model.image_logits(hidden, h + 1)[:, -1].float()            # B, V, n_img, codebook
        target = tokens[idx[:, -1]]
        tf.append(logits.argmax(-1))
        nll.append(torch.nn.functional.cross_entropy(logits.movedim(-1, 1), target, reduction="none").mean(-1))
        ctx = _batch(ep, idx[:, :h], tokens[idx[:, :h]])
        gen.append(model.generate_frame(ctx))
    return NextFramePredictions(target=ep.tokens[1:].clone(), previous=copy_last(ep.tokens).clone(),
                                teacher_forced=torch.cat(tf).cpu(), generated=torch.cat(gen).cpu(),
                                nll=torch.cat(nll).cpu())


@torch.no_grad()
def open_loop_rollout(model: GR2, ep: EpisodeTokens, starts: list[int], horizon: int) -> torch.Tensor:
    """Frames starts[i]+1 .. starts[i]+horizon generated from the real context ending at frame
    starts[i], each from the model's own earlier predictions (greedy), the robot state the real one
    of each frame (the model reads state; the rollout does not model the arm's motion itself).

    Returns (len(starts), horizon, V, n_img) token ids. ValueError when a rollout would run past the
    episode's last frame.
    """
    c = model.config
    h, T = c.n_obs_steps, ep.length
    if not starts or horizon < 1 or min(starts) < 0 or max(starts) + horizon > T - 1:
        raise ValueError(f"rollouts of {horizon} frames from {starts} do not fit an episode of {T} frames")
    dev = next(model.parameters()).device
    seq = ep.tokens.to(dev)[None].repeat(len(starts), 1, 1, 1)               # B, T, V, n_img; overwritten
    rows = torch.arange(len(starts), device=dev)[:, None]
    out = []
    for j in range(1, horizon + 1):
        idx = torch.as_tensor(np.stack([context_indices(s + j - 1, h) for s in starts]))
        nxt = model.generate_frame(_batch(ep, idx, seq[rows, idx.to(dev)]))
        seq[torch.arange(len(starts), device=dev), torch.as_tensor(starts, device=dev) + j] = nxt
        out.append(nxt)
    return torch.stack(out, 1).cpu()
