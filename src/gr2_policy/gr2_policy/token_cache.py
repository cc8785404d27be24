"""Token cache: the frozen VQGAN and text encoder run once per dataset, not at every step.

    python -m gr2_policy.token_cache --config config/pick_cube/tokens.yaml
    python -m gr2_policy.token_cache --episodes data/a data/b --vqgan runs/vq/ckpt --out data/tokens
    python -m gr2_policy.token_cache --videos data/videos --vqgan runs/vq/ckpt --out data/video_tokens

Reads SIM.md datasets (index.jsonl + episode folders; failed expert episodes skipped, DAgger
rollouts kept: `gr2_contract.episode.has_expert_labels`) or folders of captioned two-view video
clips for pre-training (`data.VideoClipReader`: no robot state, no actions; every clip must have
every view), turns every frame into the model input with `model_input.prepare_frame` (the one data
path, with the view crops the tokenizer was trained with: `gr2-model train-vqgan --crop`), tokenises
it, and writes one folder:

    meta.json          format, VQGAN fingerprint + config, text-encoder identity, views,
                       resolution, crops, shift variants, instructions, episodes (source, offsets, length)
    tokens.npy         uint16 (N, variants, views, n_img)   N = frames of all episodes
    ee_pose.npy        float32 (N, 7)  TCP x y z qx qy qz qw in base_link (model state)
    gripper.npy        float32 (N,)    measured opening 0 open .. 1 closed
    action_ee_pose.npy float32 (N, 7)  the expert's TCP target issued after the frame (label)
    action_gripper.npy float32 (N,)    the expert's gripper command after the frame (label)
    text.npy           float32 (instructions, text dim)  frozen sentence embeddings

A cache of videos has no ee_pose/gripper/action files (meta "actions": false): its episodes train
the next-frame prediction only.

Augmentation (random shifts, as in DrQ, Kostrikov et al. 2020): variant 0 is the frame as the
robot sees it; variants 1..n shift each episode's view by a random whole-pixel offset of up to
`shift_px` (edge pixels repeated), the same offset for the whole episode (a slightly moved
camera), drawn from `seed`. The sampler picks one variant per view and window.

`TokenCacheReader` serves the cache as `Episode`s with `tokens` instead of frames; a policy
trained from it refuses a cache whose VQGAN or text-encoder fingerprint is not its own; fine-tuning
on caches makes their crops the policy's (`GR2Config.view_crops`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gr2_contract.episode import CHUNK_STREAMS  # optional streams: cached when every episode has them

from .checkpoint import resolve_checkpoint
from .model_input import RESAMPLE, gripper_closure, parse_crops, prepare_frames

FORMAT = "gr2-token-cache/1"
STREAMS = ("ee_pose", "gripper", "action_ee_pose", "action_gripper")


def cache_crops(folders: list[str | Path]) -> dict:
    """The input crops (view -> model_input.Crop) the token caches `folders` were made with;
    ValueError when they differ between caches."""
    found = {str(f): TokenCacheReader(f).crops for f in folders}
    distinct = {json.dumps(c, sort_keys=True) for c in found.values()}
    if len(distinct) > 1:
        raise ValueError(f"token caches made with different input crops: {found}")
    return next(iter(found.values()), {})


def vqgan_fingerprint(ckpt: str | Path) -> str:
    """SHA-256 (16 hex digits) of a VQGAN checkpoint's weights and config; `ckpt` a folder or a
    `package://` URI. FileNotFoundError when either file is missing."""
    folder = Path(resolve_checkpoint(str(ckpt)))
    h = hashlib.sha256()
    for name in ("model.safetensors", "config.json"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


def shift_frames(frames: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """(T, R, R, 3) shifted by (dx, dy) pixels (content moves right/down for positive values);
    the uncovered border repeats the edge pixels, as DrQ's pad-and-crop does."""
    if dx == 0 and dy == 0:
        return frames
    r = frames.shape[1]
    p = max(abs(dx), abs(dy))
    padded = np.pad(frames, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    return padded[:, p - dy:p - dy + r, p - dx:p - dx + r]


def _episode_rows(folder: Path) -> list[dict]:
    index = folder / "index.jsonl"
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: {folder} is not a SIM.md dataset")
    return [json.loads(line) for line in index.read_text().splitlines() if line.strip()]


def _sim_sources(episode_dirs: list[str | Path], views: tuple[str, ...], res: int, crops: dict):
    """(count, iterator of (info, frames per view prepared at `res` with `crops`, streams)) over the
    successful episodes of SIM.md datasets; streams holds STREAMS (+ CHUNK_STREAMS when every
    episode has them)."""
    from gr2_contract.episode import has_expert_labels, load_episode

    from .data import SimDatasetReader
    view_stream = SimDatasetReader.STREAM_OF_VIEW
    unknown = [v for v in views if v not in view_stream]
    if unknown:
        raise ValueError(f"the sim dataset has no stream for view(s) {unknown}")
    rows = []
    for d in episode_dirs:
        rows += [(Path(d), r) for r in _episode_rows(Path(d)) if has_expert_labels(r)]
    if not rows:
        raise FileNotFoundError(f"no successful episodes in {list(map(str, episode_dirs))}")
    # chunk labels (DAgger rounds) are cached when every episode has them; a mix would leave some
    # episodes' chunks from another rule without saying so
    with_chunks = {(folder / row["dir"] / "action_chunk_ee_pose.npy").is_file() for folder, row in rows}
    if len(with_chunks) > 1:
        raise ValueError("some episodes have chunk labels (action_chunk_*.npy) and some not: build one cache per kind")
    names = (*STREAMS, *(CHUNK_STREAMS if with_chunks == {True} else ()))

    def items():
        for folder, row in rows:
            meta, st = load_episode(folder / row["dir"], mmap=True)
            frames = {v: prepare_frames(np.asarray(st[view_stream[v]]), res, crops.get(v)) for v in views}
            info = {"source": str(folder), "dir": row["dir"], "task": meta.get("task"), "setting": meta.get("setting"),
                    "seed": meta.get("seed"), "instruction": meta["instruction"], "fps": meta["fps"]}
            yield info, frames, {k: np.asarray(st[k], np.float32) for k in names}
    return len(rows), items()


def _video_sources(video_dirs: list[str | Path], views: tuple[str, ...], res: int, stride: int, crops: dict):
    """(count, iterator of (info, frames per view, None)) over the clips of captioned video folders
    (data.VideoClipReader, whole clips); ValueError for a clip that lacks one of `views`."""
    from .data import VideoClipReader
    readers = [VideoClipReader(d, res, stride=stride, views=views, crops=crops) for d in video_dirs]
    for r in readers:
        for name in r.names:
            if set(r.clips[name]) != set(views):
                raise ValueError(f"clip {name} in {r.folder} has views {sorted(r.clips[name])}, not {list(views)}: "
                                 "a token cache needs every view (or pre-train from the folder with --videos)")

    def items():
        for r in readers:
            for i, name in enumerate(r.names):
                ep = r[i]
                yield ({"source": str(r.folder), "dir": name, "instruction": ep.instruction, "fps": None},
                       {v: ep.frames[v] for v in views}, None)
    return sum(len(r) for r in readers), items()


@torch.no_grad()
def build_cache(episode_dirs: list[str | Path], vqgan_ckpt: str | Path, out: str | Path,
                views: tuple[str, ...] = ("head_camera", "wrist_camera"), shifts: int = 0,
                shift_px: int = 3, seed: int = 0, text: str = "minilm", batch: int = 256,
                threads: int = 0, video_dirs: list[str | Path] | None = None, video_stride: int = 1) -> dict:
    """Tokenise every successful episode of the datasets `episode_dirs`, or every clip of the video
    folders `video_dirs` (one kind per cache), into `out`; returns the meta. Frames are cut to the
    view crops the tokenizer was trained on (its checkpoint's extra.crops; ValueError when one
    names a view not in `views`)."""
    from tqdm import tqdm

    from .checkpoint import load_vqgan
    from .config import TextEncoderConfig
    from .policy import frames_to_tensor
    from .text_encoder import load_text_encoder

    if bool(episode_dirs) == bool(video_dirs):
        raise ValueError("give robot episode folders or video folders (one kind per cache)")
    if threads:
        torch.set_num_threads(threads)
    vq, vq_meta = load_vqgan(vqgan_ckpt)
    crops = parse_crops(vq_meta.get("extra", {}).get("crops"))
    if set(crops) - set(views):
        raise ValueError(f"tokenizer {vqgan_ckpt} was trained on crops of view(s) {sorted(set(crops) - set(views))}, "
                         f"not among {list(views)}")
    vq.eval()
    res = vq.config.resolution
    encoder = load_text_encoder(TextEncoderConfig(kind=text, max_tokens=77 if text == "clip" else 64))
    count, items = (_sim_sources(episode_dirs, views, res, crops) if episode_dirs
                    else _video_sources(video_dirs, views, res, video_stride, crops))
    rng = np.random.default_rng(seed)
    n_var = 1 + shifts
    tokens: list[np.ndarray] = []
    streams: dict[str, list] = {}
    instructions: list[str] = []
    episodes = []
    start, t0 = 0, time.monotonic()
    bar = tqdm(total=count, desc="tokenise", unit="ep", dynamic_ncols=True)
    for info, frames, st in items:
        T = len(next(iter(frames.values())))
        ep_tokens = np.zeros((T, n_var, len(views), vq.config.tokens_per_frame), np.uint16)
        for v_i, view in enumerate(views):
            for var in range(n_var):
                dx, dy = (0, 0) if var == 0 else rng.integers(-shift_px, shift_px + 1, size=2)
                x = frames_to_tensor(shift_frames(frames[view], int(dx), int(dy)))
                ids = torch.cat([vq.encode(c) for c in x.split(batch)]).flatten(1)
                ep_tokens[:, var, v_i] = ids.numpy().astype(np.uint16)
        tokens.append(ep_tokens)
        for k, v in (st or {}).items():
            streams.setdefault(k, []).append(v)
        instruction = info.pop("instruction")
        if instruction not in instructions:
            instructions.append(instruction)
        episodes.append(info | {"instruction": instructions.index(instruction), "start": start, "length": T})
        start += T
        bar.update(1)
    bar.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "tokens.npy", np.concatenate(tokens))
    for k in streams:
        np.save(out / f"{k}.npy", np.concatenate(streams[k]))
    np.save(out / "text.npy", torch.stack([encoder.encode(s) for s in instructions]).numpy().astype(np.float32))
    meta = {"format": FORMAT, "vqgan": {"path": str(vqgan_ckpt), "fingerprint": vqgan_fingerprint(vqgan_ckpt),
                                        "config": vq.config.__dict__ | {"ch_mult": list(vq.config.ch_mult)}},
            "text_encoder": encoder.identity, "views": list(views), "resolution": res,
            "n_img": vq.config.tokens_per_frame, "prepare_frame": {"crop": "centre square", "resample": RESAMPLE.name,
                                                                    "crops": {v: list(c) for v, c in crops.items()}},
            "variants": n_var, "shift_px": shift_px if shifts else 0, "seed": seed, "actions": bool(episode_dirs),
            "instructions": instructions, "episodes": episodes, "frames": start,
            "seconds": round(time.monotonic() - t0, 1)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


class TokenCacheReader:
    """A token cache as an `EpisodeReader`: `Episode`s carry `tokens` (view -> (T, variants, n_img))
    and `text` (the cached embedding) instead of frames. `episodes` selects a subset (indices);
    `variants` > 0 uses only the first that many variants (1: no shift augmentation)."""

    def __init__(self, folder: str | Path, episodes: list[int] | None = None, variants: int = 0):
        self.folder = Path(folder)
        meta_file = self.folder / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{meta_file} not found: {folder} is not a token cache")
        self.meta = json.loads(meta_file.read_text())
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{folder}: format {self.meta.get('format')!r}, expected {FORMAT!r}")
        self.tokens = np.load(self.folder / "tokens.npy", mmap_mode="r")
        self.has_actions = bool(self.meta.get("actions", True))      # False: a cache of video clips
        names = [*STREAMS, *(k for k in CHUNK_STREAMS if (self.folder / f"{k}.npy").is_file())]
        names = names if self.has_actions else []
        self.streams = {k: np.load(self.folder / f"{k}.npy") for k in names}
        self.text = torch.as_tensor(np.load(self.folder / "text.npy"))
        self.index = list(range(len(self.meta["episodes"]))) if episodes is None else list(episodes)
        # 0: every cached variant; 1: the frames as recorded only (no shift augmentation)
        self.variants = self.meta["variants"] if variants <= 0 else min(variants, self.meta["variants"])

    @property
    def views(self) -> tuple[str, ...]:
        return tuple(self.meta["views"])

    @property
    def crops(self) -> dict:
        """view -> model_input.Crop the frames were cut to (empty for a cache made without)."""
        return parse_crops(self.meta.get("prepare_frame", {}).get("crops", {}))

    def check_compatible(self, config, vqgan_fingerprint_: str, text_identity: dict) -> None:
        """Raise ValueError unless the cache was made with this tokenizer, text encoder and layout."""
        problems = []
        if self.meta["vqgan"]["fingerprint"] != vqgan_fingerprint_:
            problems.append(f"VQGAN {self.meta['vqgan']['fingerprint']} != the model's {vqgan_fingerprint_}")
        if self.meta["text_encoder"] != text_identity:
            problems.append("text encoder identity differs")
        if tuple(self.meta["views"]) != tuple(config.views):
            problems.append(f"views {self.meta['views']} != {list(config.views)}")
        if self.meta["n_img"] != config.n_img or self.meta["resolution"] != config.vqgan.resolution:
            problems.append("token grid / resolution differ")
        if self.crops != parse_crops(config.view_crops):
            problems.append(f"input crops {self.crops or 'none'} != the model's {config.view_crops or 'none'}")
        if problems:
            raise ValueError(f"token cache {self.folder} does not fit this model: " + "; ".join(problems)
                             + " (rebuild it with python -m gr2_policy.token_cache)")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        from .data import Episode, chunk_labels
        e = self.meta["episodes"][self.index[i]]
        a, b = e["start"], e["start"] + e["length"]
        tok = np.asarray(self.tokens[a:b, :self.variants])
        if not self.has_actions:
            return Episode(instruction=self.meta["instructions"][e["instruction"]], frames={},
                           tokens={v: tok[:, :, k] for k, v in enumerate(self.views)},
                           text=self.text[e["instruction"]])
        ee, act = self.streams["ee_pose"][a:b], self.streams["action_ee_pose"][a:b]
        grip = self.streams["gripper"][a:b]
        return Episode(instruction=self.meta["instructions"][e["instruction"]], frames={},
                       tokens={v: tok[:, :, k] for k, v in enumerate(self.views)},
                       text=self.text[e["instruction"]],
                       ee_position=ee[:, :3], ee_quaternion=ee[:, 3:],
                       gripper_closure=gripper_closure(grip).astype(np.float32),
                       gripper_command=self.streams["action_gripper"][a:b], dt=1.0 / float(e["fps"]),
                       action_position=act[:, :3], action_quaternion=act[:, 3:],
                       action_gripper=self.streams["action_gripper"][a:b],
                       **chunk_labels({k: self.streams[k][a:b] for k in CHUNK_STREAMS if k in self.streams}))


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (its --config files are checked against it by tests)."""
    p = argparse.ArgumentParser(prog="python -m gr2_policy.token_cache", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML file whose keys are defaults for these options")
    p.add_argument("--episodes", nargs="+", help="SIM.md dataset folders")
    p.add_argument("--videos", nargs="+", help="captioned video clip folders (gr2_bringup.video_clips): "
                                               "action-free, for gr2-model pretrain --tokens")
    p.add_argument("--video-stride", type=int, default=1,
                   help="keep every Nth video frame (1: clips at the model's rate)")
    p.add_argument("--vqgan", help="trained VQGAN checkpoint folder (frozen)")
    p.add_argument("--out", help="cache folder")
    p.add_argument("--views", default="head_camera,wrist_camera")
    p.add_argument("--shifts", type=int, default=0, help="extra randomly shifted variants per frame")
    p.add_argument("--shift-px", type=int, default=3, help="largest shift, pixels at the model resolution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", default="minilm", choices=["minilm", "clip"])
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Build a token cache from the command line (module docstring) and print its summary as JSON."""
    from gr2_contract.config import parse_with_config
    p = build_parser()
    args = parse_with_config(p, argv, required=("vqgan", "out"))
    if bool(args.episodes) == bool(args.videos):
        p.error("give --episodes (robot data) or --videos (pre-training clips), one kind per cache")
    meta = build_cache(args.episodes, args.vqgan, args.out, tuple(args.views.split(",")), args.shifts,
                       args.shift_px, args.seed, args.text, threads=args.threads, video_dirs=args.videos,
                       video_stride=args.video_stride)
    print(json.dumps({k: meta[k] for k in ("frames", "variants", "seconds")} | {
        "episodes": len(meta["episodes"]), "instructions": len(meta["instructions"]),
        "vqgan": meta["vqgan"]["fingerprint"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
