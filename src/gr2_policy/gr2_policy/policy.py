"""Inference API: observation + instruction -> action chunk (+ optional predicted frames).

ROS-free; the policy node converts `ActionChunkResult` to gr2_msgs/ActionChunk. The policy
keeps the last h observations itself (call `reset()` at the start of an episode); until h
observations exist the oldest one is repeated, the same padding the training sampler uses at
episode starts.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from .model import GR2, Batch
from .text_encoder import TextEncoder

try:  # the contract module is the one source of frame names; optional so the core runs alone
    from gr2_contract import BASE_FRAME
except ImportError:  # pragma: no cover
    BASE_FRAME = "base_link"


@dataclass
class Observation:
    """One timestep. images: view name -> (R, R, 3) uint8 RGB at the model resolution."""
    images: dict[str, np.ndarray]
    ee_position: np.ndarray          # (3,) metres in base_link
    ee_quaternion: np.ndarray        # (4,) x, y, z, w in base_link
    gripper_closure: float          # measured, 0 open .. 1 closed (model_input.gripper_closure)
    stamp: float = 0.0


@dataclass
class ActionChunkResult:
    """One predicted chunk: k TCP poses (m, base_link; quaternions xyzw) and gripper commands."""
    positions: np.ndarray            # (k, 3) metres, base_link
    quaternions: np.ndarray          # (k, 4) x, y, z, w, base_link
    gripper: np.ndarray              # (k,) 0 open .. 1 closed
    dt: float                        # seconds between poses; pose i is at stamp + (i+1)*dt
    stamp: float
    instruction: str
    frame_id: str = BASE_FRAME
    predicted_frames: dict[str, np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(..., R, R, 3) uint8 -> (..., 3, R, R) float in [-1, 1]."""
    t = torch.as_tensor(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return t.movedim(-1, -3)


def tensor_to_frames(t: torch.Tensor) -> np.ndarray:
    """(..., 3, R, R) float in [-1, 1] -> (..., R, R, 3) uint8 on the CPU (inverse of frames_to_tensor)."""
    return ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()


class GR2Policy:
    """Observations + instruction -> action chunks with a GR2 model (module docstring).

    ValueError when the text encoder's embedding size is not the model's.
    """

    def __init__(self, model: GR2, text_encoder: TextEncoder, device: str = "cpu",
                 dtype: torch.dtype = torch.float32):
        if text_encoder.dim != model.config.text.dim:
            raise ValueError(f"text encoder dim {text_encoder.dim} != model text dim {model.config.text.dim}")
        self.model = model.eval().to(device)
        self.text = text_encoder
        self.device, self.dtype = device, dtype
        self.history: deque[tuple[Observation, torch.Tensor]] = deque(maxlen=model.config.n_obs_steps)

    def reset(self) -> None:
        self.history.clear()

    def check_observation(self, obs: Observation) -> None:
        c = self.model.config
        r = c.vqgan.resolution
        missing = [v for v in c.views if v not in obs.images or obs.images[v] is None]
        if missing:
            raise ValueError(f"observation is missing view(s) {missing}; the model needs {list(c.views)}")
        for v in c.views:
            img = np.asarray(obs.images[v])
            if img.shape != (r, r, 3) or img.dtype != np.uint8:
                raise ValueError(f"view {v!r}: expected a ({r}, {r}, 3) uint8 RGB frame, got "
                                 f"{img.shape} {img.dtype}")
        pos, quat = np.asarray(obs.ee_position, float), np.asarray(obs.ee_quaternion, float)
        if pos.shape != (3,) or quat.shape != (4,) or not np.all(np.isfinite(pos)) or not np.all(np.isfinite(quat)):
            raise ValueError(f"robot state must be finite position (3,) and quaternion (4,), got {pos} {quat}")
        if abs(np.linalg.norm(quat) - 1.0) > 1e-2:
            raise ValueError(f"EE quaternion {quat} is not unit length")

    @torch.no_grad()
    def _tokenize(self, obs: Observation) -> torch.Tensor:
        """(V, n_img) ids; each frame is tokenised once, when it enters the history."""
        c = self.model.config
        x = frames_to_tensor(np.stack([obs.images[v] for v in c.views])).to(self.device)
        return self.model.vqgan.encode(x).flatten(1)

    def _batch(self, instruction: str) -> Batch:
        c = self.model.config
        hist = list(self.history)
        hist = [hist[0]] * (c.n_obs_steps - len(hist)) + hist
        obs = [o for o, _ in hist]
        tokens = torch.stack([t for _, t in hist])                                  # S,V,n_img

        def f(a: list) -> torch.Tensor:
            return torch.as_tensor(np.stack(a), dtype=torch.float32, device=self.device)[None]

        return Batch(text=self.text.encode(instruction).to(self.device)[None], tokens=tokens[None],
                     state_pos=f([o.ee_position for o in obs]), state_quat=f([o.ee_quaternion for o in obs]),
                     gripper_closure=f([float(o.gripper_closure) for o in obs]),
                     state_valid=torch.ones(1, len(obs), dtype=torch.bool, device=self.device))

    @torch.no_grad()
    def predict(self, observation: Observation, instruction: str, predict_frames: bool = False,
                temperature: float = 0.0) -> ActionChunkResult:
        """Action chunk from one forward pass; optionally the next frame per view (KV-cached)."""
        self.text.check(instruction)
        self.check_observation(observation)
        c = self.model.config
        t0 = time.perf_counter()
        self.history.append((observation, self._tokenize(observation)))
        b = self._batch(instruction)
        t1 = time.perf_counter()
        with torch.autocast(device_type=torch.device(self.device).type, dtype=self.dtype,
                            enabled=self.dtype != torch.float32):
            pred = self.model.predict_actions(b)
            t2 = time.perf_counter()
            frames = None
            if predict_frames:
                ids = self.model.generate_frame(b, pred.hidden, pred.cache, temperature=temperature)
                token_grid = ids[0].view(len(c.views), c.vqgan.grid, c.vqgan.grid)
                imgs = tensor_to_frames(self.model.vqgan.decode(token_grid).float())
                frames = {v: imgs[i] for i, v in enumerate(c.views)}
        t3 = time.perf_counter()
        pos, quat, grip = pred.positions[0], pred.quaternions[0], pred.gripper[0]
        if not torch.isfinite(pos).all() or not torch.isfinite(quat).all():
            raise RuntimeError("model produced a non-finite action chunk")
        return ActionChunkResult(positions=pos.cpu().numpy(), quaternions=quat.cpu().numpy(),
                                 gripper=grip.cpu().numpy(), dt=c.action_dt, stamp=observation.stamp,
                                 instruction=instruction, predicted_frames=frames,
                                 timings={"tokenize_s": t1 - t0, "action_s": t2 - t1, "video_s": t3 - t2})
