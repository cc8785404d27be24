"""Training data: robot episodes (fine-tuning) and captioned video clips (pre-training).

Both are read into the same `Episode` structure so one window sampler serves both stages;
a video clip is an episode with one view and no robot state or actions.

Robot episodes come in two layouts, picked by `open_episodes`:
- the sim/recording dataset format of src/gr2_drivers/SIM.md (`index.jsonl` + one directory of
  `.npy` streams per episode, read with `gr2_contract.episode.load_episode`): `SimDatasetReader`.
  Action targets are the recorded commands (`action_ee_pose`, `action_gripper`), or the expert's
  k-step plans where the episode has them (DAgger: `action_chunk_*`). Every recorder writes it.
- a compact single-file layout, one `*.npz` per episode (`write_npz_episode`; files recorded
  before every recorder wrote the format above):
    instruction      str (0-d array)
    <view>           (T, R, R, 3) uint8 RGB for each view name (head_camera, wrist_camera)
    ee_position      (T, 3) float, metres, base_link
    ee_quaternion    (T, 4) float, x y z w, base_link
    gripper_closure  (T,) float   - measured gripper closure 0 open .. 1 closed (model input)
    gripper_command  (T,) float   - commanded gripper 0..1 (action target)
    dt               float        - seconds between samples
Any other on-disk layout only needs an `EpisodeReader` that yields `Episode`s.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .action_head import encode_actions
from .config import GR2Config
from .model import Batch
from .model_input import gripper_closure, prepare_frame, prepare_frames

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi", ".mov")


@dataclass
class Episode:
    """One episode in model terms: frames per view, TCP poses (m, base_link; quaternions xyzw), gripper."""
    instruction: str
    frames: dict[str, np.ndarray]                 # view -> (T, R, R, 3) uint8
    ee_position: np.ndarray | None = None         # (T, 3)
    ee_quaternion: np.ndarray | None = None       # (T, 4)
    gripper_closure: np.ndarray | None = None      # (T,)
    gripper_command: np.ndarray | None = None     # (T,)
    dt: float = 0.1
    # recorded commands: the TCP target / gripper command issued after frame t; when present they
    # are the action targets, otherwise the next measured poses are
    action_position: np.ndarray | None = None     # (T, 3)
    action_quaternion: np.ndarray | None = None   # (T, 4)
    action_gripper: np.ndarray | None = None      # (T,)
    # the expert's k-step plan from the state at frame t (DAgger rounds; gr2_contract.episode
    # CHUNK_STREAMS): when present it is the chunk label instead of action_*[t:t+k]
    action_chunk_position: np.ndarray | None = None     # (T, k, 3)
    action_chunk_quaternion: np.ndarray | None = None   # (T, k, 4)
    action_chunk_gripper: np.ndarray | None = None      # (T, k)
    # a token cache's episode (token_cache.TokenCacheReader): view -> (T, variants, n_img) VQGAN ids
    # of the frames (variant 0 as recorded, the rest shifted), and the cached text embedding
    tokens: dict[str, np.ndarray] | None = None
    text: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return len(next(iter((self.tokens or self.frames).values())))

    @property
    def has_actions(self) -> bool:
        return self.ee_position is not None


class EpisodeReader(Protocol):
    """What the window sampler reads: a sequence of Episodes."""

    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> Episode: ...


class NpzEpisodeReader:
    """Episodes from the *.npz files of `folder` (as `write_npz_episode` writes them), frames
    prepared at `resolution` with the views' `crops` (model_input); FileNotFoundError when there is none."""

    def __init__(self, folder: str | Path, views: tuple[str, ...], resolution: int, crops: dict | None = None):
        self.files = sorted(Path(folder).glob("*.npz"))
        if not self.files:
            raise FileNotFoundError(f"no *.npz episodes in {folder}")
        self.views, self.resolution, self.crops = views, resolution, crops or {}

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Episode:
        d = np.load(self.files[i])
        missing = [k for k in (*self.views, "instruction", "ee_position", "ee_quaternion") if k not in d]
        if missing:
            raise KeyError(f"{self.files[i]} lacks {missing}")
        frames = {}
        for v in self.views:
            frames[v] = prepare_frames(d[v], self.resolution, self.crops.get(v))
        key = "gripper_closure" if "gripper_closure" in d else "gripper_closed"    # the key before closure
        closed = d[key].astype(np.float32) if key in d else None
        return Episode(instruction=str(d["instruction"]), frames=frames, ee_position=d["ee_position"],
                       ee_quaternion=d["ee_quaternion"], gripper_closure=closed,
                       gripper_command=d["gripper_command"].astype(np.float32) if "gripper_command" in d else closed,
                       dt=float(d["dt"]) if "dt" in d else 0.1)


class SimDatasetReader:
    """The SIM.md dataset: `DIR/index.jsonl` + `DIR/<episode>/{meta.json, *.npy}`; frames prepared at
    `resolution` with the views' `crops` (model_input)."""
    STREAM_OF_VIEW = {"head_camera": "head_rgb", "wrist_camera": "wrist_rgb"}

    def __init__(self, folder: str | Path, views: tuple[str, ...], resolution: int, successful_only: bool = True,
                 crops: dict | None = None):
        self.folder = Path(folder)
        index = self.folder / "index.jsonl"
        if not index.is_file():
            raise FileNotFoundError(f"{index} not found (not a SIM.md dataset)")
        rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
        from gr2_contract.episode import has_expert_labels
        self.rows = [r for r in rows if has_expert_labels(r) or not successful_only]
        if not self.rows:
            raise FileNotFoundError(f"no {'successful ' if successful_only else ''}episodes in {index}")
        unknown = [v for v in views if v not in self.STREAM_OF_VIEW]
        if unknown:
            raise ValueError(f"the sim dataset has no stream for view(s) {unknown}")
        self.views, self.resolution, self.crops = views, resolution, crops or {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Episode:
        from gr2_contract.episode import load_episode
        meta, st = load_episode(self.folder / self.rows[i]["dir"], mmap=True)
        frames = {}
        for v in self.views:
            frames[v] = prepare_frames(st[self.STREAM_OF_VIEW[v]], self.resolution, self.crops.get(v))
        ee, act = np.asarray(st["ee_pose"], np.float32), np.asarray(st["action_ee_pose"], np.float32)
        grip = np.asarray(st["gripper"], np.float32)
        return Episode(instruction=meta["instruction"], frames=frames, ee_position=ee[:, :3], ee_quaternion=ee[:, 3:],
                       gripper_closure=gripper_closure(grip).astype(np.float32),
                       gripper_command=np.asarray(st["action_gripper"], np.float32),
                       dt=1.0 / float(meta["fps"]), action_position=act[:, :3], action_quaternion=act[:, 3:],
                       action_gripper=np.asarray(st["action_gripper"], np.float32), **chunk_labels(st))


def chunk_labels(streams) -> dict:
    """Episode fields of the CHUNK_STREAMS in `streams` (a mapping of stream name -> array);
    empty when it has none."""
    if "action_chunk_ee_pose" not in streams:
        return {}
    chunk = np.asarray(streams["action_chunk_ee_pose"], np.float32)
    return {"action_chunk_position": chunk[..., :3], "action_chunk_quaternion": chunk[..., 3:],
            "action_chunk_gripper": np.asarray(streams["action_chunk_gripper"], np.float32)}


def open_episodes(folder: str | Path, views: tuple[str, ...], resolution: int,
                  crops: dict | None = None) -> EpisodeReader:
    """SIM.md dataset if the folder has index.jsonl, else a folder of *.npz episodes."""
    if (Path(folder) / "index.jsonl").is_file():
        return SimDatasetReader(folder, views, resolution, crops=crops)
    return NpzEpisodeReader(folder, views, resolution, crops=crops)


def write_npz_episode(path: str | Path, ep: Episode) -> None:
    """Write `ep` (frames per view, TCP poses, gripper, dt) as one compressed .npz file."""
    np.savez_compressed(path, instruction=np.array(ep.instruction), **ep.frames, ee_position=ep.ee_position,
                        ee_quaternion=ep.ee_quaternion, gripper_closure=ep.gripper_closure,
                        gripper_command=ep.gripper_command, dt=np.array(ep.dt))


class VideoClipReader:
    """Folder of captioned videos for pre-training (action-free: no robot state, no actions).

    A clip is one video `NAME.mp4` (shown to the model as its first view) or several videos of the
    same moment, one per camera, `NAME.<view>.mp4` for views in `views` (e.g. NAME.head_camera.mp4
    and NAME.wrist_camera.mp4; cut to the shortest). Caption: NAME.txt, or captions.json
    {NAME or file name: caption}. Frames are decoded with PyAV, sub-sampled every `stride` frames
    (1 for videos recorded at the model's frame rate), prepared with the views' `crops` (prepare_frame);
    a clip is read whole unless `max_frames` caps it (frames after sub-sampling).
    Raises FileNotFoundError for a folder without videos, KeyError for a clip without a caption.
    """
    def __init__(self, folder: str | Path, resolution: int, stride: int = 3, max_frames: int | None = None,
                 views: tuple[str, ...] = (), crops: dict | None = None):
        folder = Path(folder)
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise FileNotFoundError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
        self.clips: dict[str, dict[str, Path]] = {}
        for video in videos:
            name, _, view = video.stem.rpartition(".")
            if not (name and view in views):
                name, view = video.stem, "video"
            self.clips.setdefault(name, {})[view] = video
        self.names = sorted(self.clips)
        index = folder / "captions.json"
        self.folder = folder
        self.captions = json.loads(index.read_text()) if index.is_file() else {}
        self.resolution, self.stride, self.max_frames = resolution, stride, max_frames
        self.crops = crops or {}

    def __len__(self) -> int:
        return len(self.names)

    def caption(self, name: str) -> str:
        txt = self.folder / f"{name}.txt"
        if txt.is_file():
            return txt.read_text().strip()
        for key in (name, *(v.name for v in self.clips[name].values())):
            if key in self.captions:
                return self.captions[key]
        raise KeyError(f"no caption for clip {name} in {self.folder} (add {txt.name} or an entry in captions.json)")

    def _decode(self, video: Path, view: str) -> np.ndarray:
        import av
        frames = []
        with av.open(str(video)) as container:
            for n, frame in enumerate(container.decode(video=0)):
                if n % self.stride == 0:
                    frames.append(prepare_frame(frame.to_ndarray(format="rgb24"), self.resolution,
                                                self.crops.get(view)))
                if self.max_frames is not None and len(frames) >= self.max_frames:
                    break
        return np.stack(frames)

    def __getitem__(self, i: int) -> Episode:
        name = self.names[i]
        frames = {view: self._decode(video, view) for view, video in self.clips[name].items()}
        length = min(len(f) for f in frames.values())
        return Episode(instruction=self.caption(name), frames={v: f[:length] for v, f in frames.items()})


def write_video(path: str | Path, frames: np.ndarray, fps: int = 10) -> None:
    """Write `frames` (T, H, W, 3) uint8 RGB as an MPEG-4 video at `fps` frames per second."""
    import av
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


class WindowSampler:
    """Random windows of h+1 steps; robot windows also carry k-step action targets per step.

    Episode starts are padded by repeating the first sample (the same rule the inference
    history uses); chunk targets past the episode end repeat the last pose (hold still).
    """
    def __init__(self, reader: EpisodeReader, config: GR2Config, seed: int, cache: bool = True,
                 early_fraction: float = 0.0, early_frames: int = 12):
        """early_fraction: share of windows that end in an episode's first `early_frames` frames
        (the rest uniform over the episode). Why: the decision that needs the cube's position and
        colour most, where to go from the start pose, is made in few frames of each episode."""
        if not 0.0 <= early_fraction <= 1.0 or early_frames < 1:
            raise ValueError(f"early_fraction {early_fraction} must be in 0..1 and early_frames {early_frames} >= 1")
        self.reader, self.config = reader, config
        self.early_fraction, self.early_frames = early_fraction, early_frames
        self.rng = np.random.default_rng(seed)
        self._cache: dict[int, Episode] = {}
        self.use_cache = cache

    def episode(self, i: int) -> Episode:
        if not self.use_cache:
            return self.reader[i]
        if i not in self._cache:
            self._cache[i] = self.reader[i]
        return self._cache[i]

    def _view_frames(self, ep: Episode, view: str, idx: np.ndarray) -> np.ndarray | None:
        if view in ep.frames:
            return ep.frames[view][idx]
        if len(ep.frames) == 1 and view == self.config.views[0]:   # single-view video -> first view
            return next(iter(ep.frames.values()))[idx]
        return None                                                  # missing view -> [MISSING] ids

    def window(self, ep: Episode, end: int):
        c = self.config
        S, k = c.n_steps, c.chunk_size
        idx = np.clip(np.arange(end - S + 1, end + 1), 0, ep.length - 1)
        T = ep.length
        if ep.tokens is not None:      # token cache: one randomly chosen variant per view
            out = {"tokens": [ep.tokens[v][idx, self.rng.integers(ep.tokens[v].shape[1])] for v in c.views],
                   "instruction": ep.instruction, "text": ep.text}
        else:
            out = {"frames": [self._view_frames(ep, v, idx) for v in c.views], "instruction": ep.instruction}
        if ep.has_actions and abs(ep.dt - c.action_dt) > 1e-6:
            raise ValueError(f"episode recorded every {ep.dt} s but the model predicts poses every "
                             f"{c.action_dt} s (config action_dt); resample the data or change the config")
        if ep.has_actions:
            def t(a) -> torch.Tensor:
                return torch.as_tensor(np.asarray(a, dtype=np.float32))

            out["state_pos"], out["state_quat"] = t(ep.ee_position[idx]), t(ep.ee_quaternion[idx])
            closure = ep.gripper_closure
            out["gripper_closure"] = t(closure[idx] if closure is not None else np.zeros(len(idx)))
            if ep.action_chunk_position is not None:    # the expert's plan from each state
                if ep.action_chunk_position.shape[1] < k:
                    raise ValueError(f"chunk labels of {ep.action_chunk_position.shape[1]} steps, but the model "
                                     f"predicts {k} (config chunk)")
                out["actions"] = encode_actions(out["state_pos"], out["state_quat"],
                                                t(ep.action_chunk_position[idx, :k]),
                                                t(ep.action_chunk_quaternion[idx, :k]),
                                                t(ep.action_chunk_gripper[idx, :k]), c.pos_scale)
                return out
            if ep.action_position is not None:      # commands issued after frames t .. t+k-1
                fut = np.clip(idx[:, None] + np.arange(0, k)[None], 0, T - 1)
                pos, quat, grip = ep.action_position, ep.action_quaternion, ep.action_gripper
            else:                                   # measured poses at t+1 .. t+k
                fut = np.clip(idx[:, None] + np.arange(1, k + 1)[None], 0, T - 1)
                pos, quat = ep.ee_position, ep.ee_quaternion
                grip = ep.gripper_command if ep.gripper_command is not None else np.zeros(T)
            out["actions"] = encode_actions(out["state_pos"], out["state_quat"], t(pos[fut]),
                                            t(quat[fut]), t(grip[fut]), c.pos_scale)
        return out

    def sample(self, batch: int) -> list[dict]:
        items = []
        for _ in range(batch):
            i = int(self.rng.integers(len(self.reader)))
            ep = self.episode(i)
            early = self.early_fraction > 0 and self.rng.random() < self.early_fraction
            end = self.rng.integers(min(ep.length, self.early_frames) if early else ep.length)
            items.append(self.window(ep, int(end)))
        return items


def collate(items: list[dict], config: GR2Config, vqgan, text_encoder, device="cpu") -> Batch:
    """Stack windows into a Batch. Frames are tokenised with the frozen VQGAN and instructions
    embedded with the frozen text encoder, unless the window comes from a token cache (then its
    tokens and text embedding are used as they are and neither frozen model runs)."""
    from .policy import frames_to_tensor
    c = config
    B, S, V = len(items), c.n_steps, len(c.views)
    tokens = torch.full((B, S, V, c.n_img), c.missing_id, dtype=torch.long)
    imgs, where = [], []
    for b, it in enumerate(items):
        if "tokens" in it:
            for v, t in enumerate(it["tokens"]):
                tokens[b, :, v] = torch.as_tensor(t.astype(np.int64))
            continue
        for v, f in enumerate(it["frames"]):
            if f is not None:
                imgs.append(frames_to_tensor(f))
                where.append((b, v))
    if imgs:
        x = torch.cat(imgs).to(device)
        with torch.no_grad():
            ids = torch.cat([vqgan.encode(chunk) for chunk in x.split(64)]).view(len(where), S, -1).cpu()
        for n, (b, v) in enumerate(where):
            tokens[b, :, v] = ids[n]
    has = [("actions" in it) for it in items]

    def zeros(*s: int) -> torch.Tensor:
        return torch.zeros(*s)

    quat_id = torch.tensor([0.0, 0.0, 0.0, 1.0])

    def get(key: str, default: torch.Tensor) -> torch.Tensor:
        """The items' `key` stacked on a new batch axis; `default` for items without actions."""
        return torch.stack([it[key] if h else default for it, h in zip(items, has, strict=False)])

    valid = torch.tensor(has)[:, None].expand(B, S).clone()
    cached = all(it.get("text") is not None for it in items)
    return Batch(
        text=(torch.stack([it["text"] for it in items]) if cached
              else text_encoder.encode_batch([it["instruction"] for it in items])),
        tokens=tokens,
        state_pos=get("state_pos", zeros(S, 3)), state_quat=get("state_quat", quat_id.expand(S, 4)),
        gripper_closure=get("gripper_closure", zeros(S)), state_valid=valid,
        actions=get("actions", zeros(S, c.chunk_size, 10)), action_valid=valid.clone(),
    ).to(device)
