"""What the policy node does besides inference, without ROS: assemble observations, refuse stale
ones, and decide when the next chunk is due (asynchronous chunking).

Kept apart from the node so the rules that keep a robot safe (never infer on a stale frame,
start the next inference before the executing chunk runs out) are unit-tested on their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gr2_contract import stamp_problem

from .model_input import prepare_frame
from .policy import GR2Policy, Observation


@dataclass
class RuntimeConfig:
    """Freshness limits of the inputs (s) and the timing of asynchronous chunking."""
    max_observation_age: float = 0.25   # s: a frame or state older than this at inference is stale
    max_view_skew: float = 0.1          # s: views/state further apart than this are not one observation
    max_future_stamp: float = 0.05      # s: an input stamped further ahead of the node's clock is refused
    n_action_steps: int = 4             # chunk steps executed before the next chunk should take over
    max_rate_hz: float = 10.0           # upper bound on inference starts per second
    handover_time: float = 0.1          # s from a chunk's publication until the WBC executes it
                                        # (transport, trajectory optimisation, switch lead)


@dataclass
class Stamped:
    """A value with its capture stamp (s, ROS time) and, if tracked, its arrival time on the node's clock."""
    stamp: float                       # seconds (ROS time of capture/measurement)
    value: object
    received: float | None = None      # seconds, arrival on the node's clock (None: not tracked)


class ObservationAssembler:
    """Latest frame per view and latest robot state; yields an Observation only when all are fresh.
    Frames become model inputs at `resolution` with the views' `crops` (model_input.prepare_frame)."""

    def __init__(self, views: tuple[str, ...], resolution: int, config: RuntimeConfig, crops: dict | None = None):
        self.views, self.resolution, self.cfg = views, resolution, config
        self.crops = crops or {}
        self.frames: dict[str, Stamped] = {}
        self.state: Stamped | None = None

    def add_frame(self, view: str, stamp: float, rgb: np.ndarray, received: float | None = None) -> str | None:
        """Store the view's latest frame; a stamp older than the stored one is refused (returns why)."""
        if view not in self.views:
            raise KeyError(f"unknown view {view!r}; the model uses {self.views}")
        old = self.frames.get(view)
        if old is not None and stamp < old.stamp:
            return f"{view} frame stamped {old.stamp - stamp:.3f} s before the previous one: refused"
        self.frames[view] = Stamped(stamp, rgb, received)
        return None

    def add_state(self, stamp: float, ee_position, ee_quaternion, gripper_closure: float,
                  received: float | None = None) -> str | None:
        """Store the latest robot state; a stamp older than the stored one is refused (returns why)."""
        if self.state is not None and stamp < self.state.stamp:
            return f"robot state stamped {self.state.stamp - stamp:.3f} s before the previous one: refused"
        self.state = Stamped(stamp, (np.asarray(ee_position, float), np.asarray(ee_quaternion, float),
                                     float(gripper_closure)), received)
        return None

    def assemble(self, now: float) -> tuple[Observation | None, str]:
        """(observation, "") when every input is present and fresh, else (None, reason)."""
        missing = [v for v in self.views if v not in self.frames]
        if missing:
            return None, f"no frame yet from {', '.join(missing)}"
        if self.state is None:
            return None, "no robot state yet"
        inputs = {v: self.frames[v] for v in self.views} | {"robot_state": self.state}
        problems = [p for k, s in inputs.items()
                    if (p := stamp_problem(k, s.stamp, now, self.cfg.max_observation_age, self.cfg.max_future_stamp,
                                           s.received))]
        if problems:
            return None, "stale input: " + "; ".join(problems)
        frame_stamps = [self.frames[v].stamp for v in self.views]
        if max(frame_stamps) - min(frame_stamps) > self.cfg.max_view_skew:
            return None, f"views {max(frame_stamps) - min(frame_stamps):.3f} s apart"
        pos, quat, closed = self.state.value
        images = {v: prepare_frame(self.frames[v].value, self.resolution, self.crops.get(v)) for v in self.views}
        # The observation is as old as its oldest camera frame: latency compensation starts there.
        return Observation(images=images, ee_position=pos, ee_quaternion=quat, gripper_closure=closed,
                           stamp=min(frame_stamps)), ""


class ChunkClock:
    """When to start the next inference so the next chunk takes over before the current one runs out.

    A chunk predicted from an observation at t0 covers t0 + dt .. t0 + k*dt. The next chunk
    should take over after `n_action_steps` steps, at t0 + n_action_steps*dt. Between starting an
    inference and that chunk executing lie the observation's age, the inference, and the WBC's
    handover; `delay` tracks the first two as measured (observation stamp -> publication), so
    the next inference starts at t0 + n_action_steps*dt - delay - handover_time (never faster than
    max_rate_hz). If the delay exceeds the chunk's whole span the WBC runs dry: the node
    reports it in its status.
    """

    def __init__(self, config: RuntimeConfig, dt: float, chunk_len: int):
        if not 1 <= config.n_action_steps <= chunk_len:
            raise ValueError(f"n_action_steps {config.n_action_steps} must be in 1..{chunk_len}")
        self.cfg, self.dt, self.k = config, dt, chunk_len
        self.last_obs_stamp: float | None = None
        self.last_start: float = -math.inf
        self.delay: float = 0.0              # EMA of observation stamp -> chunk publication, s

    def reset(self) -> None:
        self.last_obs_stamp, self.last_start = None, -math.inf

    def next_start(self) -> float:
        """Time at which the next inference should start (-inf: now)."""
        if self.last_obs_stamp is None:
            return -math.inf
        return self.last_obs_stamp + self.cfg.n_action_steps * self.dt - self.delay - self.cfg.handover_time

    def due(self, now: float) -> bool:
        if now - self.last_start < 1.0 / self.cfg.max_rate_hz:
            return False
        return now >= self.next_start()

    def started(self, now: float) -> None:
        self.last_start = now

    def finished(self, obs_stamp: float, published: float) -> None:
        """A chunk predicted from the observation at `obs_stamp` was published at `published`."""
        self.last_obs_stamp = obs_stamp
        delay = published - obs_stamp
        self.delay = delay if self.delay == 0.0 else 0.7 * self.delay + 0.3 * delay

    def runs_dry(self) -> bool:
        """True when a chunk arrives later than its whole span: the robot would stop between chunks."""
        return self.delay + self.cfg.handover_time > self.k * self.dt


@dataclass
class LoadedPolicy:
    """The policy the node runs, where it came from, and whether it was trained."""
    policy: GR2Policy
    source: str          # checkpoint path, or "untrained:<preset>" — shown in every status message
    trained: bool


def load_runtime_policy(checkpoint: str, device: str = "cpu", precision: str = "fp32",
                        untrained_preset: str = "", seed: int = 0) -> LoadedPolicy:
    """The policy the node runs: an untrained preset when one is named explicitly (it exercises the
    whole pipeline but cannot solve a task; tests and benchmarks ask for it), else the checkpoint
    (a folder or a package:// URI)."""
    import torch

    from .checkpoint import FORMAT, load_policy, read_meta, resolve_checkpoint
    from .config import PRESETS, GR2Config
    from .model import GR2
    from .text_encoder import load_text_encoder

    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    if precision not in dtypes:
        raise ValueError(f"precision {precision!r} must be one of {sorted(dtypes)}")
    if untrained_preset:
        if untrained_preset not in PRESETS:
            raise ValueError(f"unknown model preset {untrained_preset!r}; known: {sorted(PRESETS)}")
        torch.manual_seed(seed)
        model = GR2(PRESETS[untrained_preset]())
        text = load_text_encoder(model.config.text)
        source, trained = f"untrained:{untrained_preset}", False
    elif checkpoint:
        path = resolve_checkpoint(checkpoint)
        config = GR2Config.from_dict(read_meta(path, FORMAT)["config"])
        text = load_text_encoder(config.text)
        model, _ = load_policy(path, text_identity=text.identity, map_location=device)
        source, trained = checkpoint, True
    else:
        raise ValueError("no checkpoint given: set the `checkpoint` parameter (checkpoint:=DIR), or "
                         "`untrained_preset` to run an untrained model that cannot solve tasks")
    return LoadedPolicy(GR2Policy(model, text, device=device, dtype=dtypes[precision]), source, trained)
