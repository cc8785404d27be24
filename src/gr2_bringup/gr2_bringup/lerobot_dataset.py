"""LeRobot datasets out and in: the stack's episode format (gr2_contract.episode) to a LeRobot
v3.0 dataset and back. ROS-free; needs pyarrow, PyAV (av) and PyYAML, not lerobot.

    python -m gr2_bringup.lerobot_dataset export SRC OUT [--repo-id NAME]
    python -m gr2_bringup.lerobot_dataset import SRC OUT [--mapping mapping.yaml]

Export writes the v3.0 layout that LeRobot 0.6.1's own writer writes (checked file by file
against a dataset written by LeRobotDataset.create/add_frame/save_episode/finalize, kept in
tests/data/lerobot/writer_v30; `scripts/lerobot_check.py load OUT` loads an export with LeRobot
itself). None of LeRobot's code is used:

    OUT/meta/info.json                                LeRobot's keys only: codebase_version "v3.0", fps (int),
                                                      features, totals, sizes, path templates, robot_type, splits
    OUT/meta/stats.json                               per feature: min, max, mean, std, count, q01 q10 q50 q90 q99
    OUT/meta/tasks.parquet                            task (the pandas index) -> task_index
    OUT/meta/episodes/chunk-000/file-000.parquet      one row per episode, LeRobot's columns in its order
                                                      (tasks, length, data/video file indices, video from/to
                                                      timestamps, stats/<feature>/<stat>, meta/episodes/*), then
                                                      this project's gr2/meta
    OUT/data/chunk-000/file-000.parquet               one row per frame, every episode in one file
    OUT/videos/<video_key>/chunk-000/file-000.mp4     one video per camera, episodes one after another

Features: observation.images.head / observation.images.wrist (video), observation.state
(x y z qx qy qz qw of the TCP in base_link, gripper 0 open..1 closed), observation.joints
(joint_1..joint_7, rad), action (the TCP target x..qw and the gripper command), and LeRobot's
timestamp, frame_index, episode_index, index, task_index. Tasks are the episodes' instructions.
The episode's own meta.json travels in the episodes table (column gr2/meta, the last one; LeRobot
reads past it) so that an import of an export gives back task, setting and seed too. A video
feature's info block is probed from the written file as LeRobot does (codec and pix_fmt as the
decoder names them), followed by the encoder settings and is_depth_map.

Videos: H.264 (libx264) at crf 0 in yuv444p by default: lossless in YUV, so the only error is
the RGB <-> YUV conversion (a pixel or two, see tests/test_lerobot_dataset.py); --pix-fmt yuv420p
gives the most widely decodable file, --codec libx264rgb (rgb24 in, stored and recorded as gbrp)
exact pixels: LeRobot loads that too, but its re-encoding tools cannot rebuild an encoder for
h264 + gbrp.

Import reads a v3.0 dataset (or a v2.1 one: per-episode parquet and mp4 files, meta/episodes.jsonl,
meta/tasks.jsonl) into this format. A YAML mapping names the LeRobot keys (default: DEFAULT_MAPPING,
what export writes):

    head: observation.images.head          # video key of the head camera
    wrist: observation.images.wrist        # video key of the wrist camera
    state:
      key: observation.state               # measured TCP pose and gripper
      position: [0, 1, 2]                  # indices of x y z
      quaternion: [3, 4, 5, 6]             # indices of qx qy qz qw, in that order
      gripper: 7                           # index of the gripper
      gripper_range: [0.0, 1.0]            # the dataset's values for open and closed (mapped to 0..1)
    action:                                # the same fields, for the commanded TCP target
      key: action
      ...
    joints:                                # optional; without it joint_pos.npy is NaN
      key: observation.joints
      index: [0, 1, 2, 3, 4, 5, 6]

Frames are decoded with PyAV at the size they were stored (the training data path resizes).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from gr2_contract.episode import load_episode, stack_streams, stream_shapes, write_episode

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
# v2.1 (import only)
LEGACY_EPISODES_PATH = "meta/episodes.jsonl"
LEGACY_TASKS_PATH = "meta/tasks.jsonl"

CAMERAS = {"head": ("head_rgb", "observation.images.head"), "wrist": ("wrist_rgb", "observation.images.wrist")}
POSE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw"]
STATE_NAMES = POSE_NAMES + ["gripper"]
JOINT_NAMES = [f"joint_{i}" for i in range(1, 8)]
META_COLUMN = "gr2/meta"
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_NAMES = ("min", "max", "mean", "std", "count", *QUANTILES)

DEFAULT_MAPPING = {
    "head": "observation.images.head",
    "wrist": "observation.images.wrist",
    "state": {"key": "observation.state", "position": [0, 1, 2], "quaternion": [3, 4, 5, 6], "gripper": 7,
              "gripper_range": [0.0, 1.0]},
    "action": {"key": "action", "position": [0, 1, 2], "quaternion": [3, 4, 5, 6], "gripper": 7,
               "gripper_range": [0.0, 1.0]},
    "joints": {"key": "observation.joints", "index": [0, 1, 2, 3, 4, 5, 6]},
}


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - requirements.txt pins it
        raise SystemExit("LeRobot datasets need pyarrow: pip install -r requirements.txt") from e
    return pa, pq


# ---------------------------------------------------------------- statistics

def _stats(x: np.ndarray) -> dict[str, list]:
    """min, max, mean, std (population), count and the quantiles q01..q99 of (N, D) values over
    N, in the order LeRobot writes them (policies such as pi0.5 normalise with q01/q99)."""
    x = np.asarray(x, dtype=np.float64)
    q = np.quantile(x, list(QUANTILES.values()), axis=0)
    quantiles = {k: v.tolist() for k, v in zip(QUANTILES, q, strict=True)}
    return {"min": x.min(0).tolist(), "max": x.max(0).tolist(), "mean": x.mean(0).tolist(),
            "std": x.std(0).tolist(), "count": [int(x.shape[0])]} | quantiles


def _image_stats(frames: np.ndarray) -> dict[str, list]:
    """Per-channel statistics of uint8 (T, H, W, 3) frames scaled to [0, 1], shaped (3, 1, 1) as
    LeRobot stores image statistics; count is the number of frames."""
    x = frames.reshape(-1, frames.shape[-1]).astype(np.float64) / 255.0
    s = _stats(x)
    return {k: v if k == "count" else [[[c]] for c in v] for k, v in s.items()} | {"count": [int(frames.shape[0])]}


def _merge_stats(parts: list[dict[str, list]]) -> dict[str, list]:
    """Dataset statistics from per-episode ones: count-weighted mean and pooled variance; the
    quantiles are the count-weighted mean of the episodes' (as LeRobot aggregates them)."""
    n = np.array([p["count"][0] for p in parts], dtype=np.float64)
    mean = np.array([p["mean"] for p in parts], dtype=np.float64)
    std = np.array([p["std"] for p in parts], dtype=np.float64)
    w = (n / n.sum()).reshape((-1,) + (1,) * (mean.ndim - 1))
    m = (w * mean).sum(0)
    var = (w * (std ** 2 + (mean - m) ** 2)).sum(0)
    return {"min": np.min([p["min"] for p in parts], 0).tolist(), "max": np.max([p["max"] for p in parts], 0).tolist(),
            "mean": m.tolist(), "std": np.sqrt(var).tolist(), "count": [int(n.sum())]} | {
        k: (w * np.array([p[k] for p in parts], dtype=np.float64)).sum(0).tolist() for k in QUANTILES}


# ---------------------------------------------------------------- video

class _VideoWriter:
    """One mp4 per camera; frames of every episode appended, pts = global frame number / fps."""

    def __init__(self, path: Path, fps: float, height: int, width: int, codec: str, pix_fmt: str, crf: int):
        import av
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
        self.stream.time_base = 1 / rate
        self.stream.options = {"crf": str(crf), "g": "2"}
        self.shape = (height, width)
        self.path = path
        self.n = 0

    def add(self, frames: np.ndarray) -> None:
        import av
        if frames.shape[1:3] != self.shape:
            raise ValueError(f"frame size {frames.shape[1:3]} differs from the video's {self.shape}: "
                             "one video file holds frames of one size")
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.n
            self.n += 1
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def decode_frames(path: Path, from_s: float, to_s: float | None, fps: float) -> np.ndarray:
    """uint8 (T, H, W, 3) frames of `path` whose timestamps lie in [from_s, to_s) (to_s None: to
    the end), decoded at their stored size. Frame k of the window is the one nearest
    from_s + k / fps."""
    import av
    frames: list[np.ndarray] = []
    half = 0.5 / fps
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base)
        if from_s > 0:
            container.seek(max(0, int((from_s - half) / tb)), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            t = frame.pts * tb
            if t < from_s - half:
                continue
            if to_s is not None and t >= to_s - half:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise ValueError(f"{path}: no frames between {from_s} s and {to_s} s")
    return np.stack(frames)


def _video_info(path: Path, crf: int) -> dict:
    """A video feature's info block as LeRobot writes it: the stream's own values, probed from
    the file (codec and pix_fmt as the decoder names them: libx264rgb's rgb24 is stored as
    gbrp), then the encoder settings, then is_depth_map."""
    import av
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = {"video.height": stream.height, "video.width": stream.width,
                "video.codec": stream.codec_context.codec.canonical_name, "video.pix_fmt": stream.pix_fmt,
                "video.fps": _fps_value(float(stream.base_rate)), "video.channels": 3, "has_audio": False}
    return info | {"video.g": 2, "video.crf": crf, "video.preset": None, "video.fast_decode": 0,
                   "video.video_backend": "pyav", "video.extra_options": {}, "is_depth_map": False}


def _fps_value(fps: float) -> int | float:
    """LeRobot's fps is an int: an integral rate is written as one (a fractional rate stays a float)."""
    return int(round(fps)) if math.isclose(fps, round(fps), abs_tol=1e-9) else fps


# ---------------------------------------------------------------- export

def _episode_dirs(src: Path) -> list[Path]:
    index = src / "index.jsonl"
    if not index.is_file():
        raise FileNotFoundError(f"{src} is not a dataset of the stack's format: no index.jsonl")
    rows = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    if not rows:
        raise ValueError(f"{index} lists no episode")
    return [src / r["dir"] for r in rows]


def export_dataset(src: Path | str, out: Path | str, repo_id: str | None = None, codec: str = "libx264",
                   pix_fmt: str = "yuv444p", crf: int = 0, robot_type: str = "kinova_gen3_2f85") -> dict:
    """Write the dataset at `src` (gr2_contract.episode format) as a LeRobot v3.0 dataset in
    `out`; returns info.json's content. `repo_id` is not stored: LeRobot keeps a dataset's name
    outside its files (the hub repository, or the `repo_id` given to LeRobotDataset with root=out)."""
    pa, pq = _pa()
    src, out = Path(src), Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    if codec == "libx264rgb":
        pix_fmt = "rgb24"
    dirs = _episode_dirs(src)
    tasks: dict[str, int] = {}
    columns: dict[str, list] = {k: [] for k in ("observation.state", "observation.joints", "action", "timestamp",
                                                "frame_index", "episode_index", "index", "task_index")}
    episodes: list[dict] = []
    writers: dict[str, _VideoWriter] = {}
    fps = None
    first = 0
    for ep, path in enumerate(dirs):
        meta, s = load_episode(path, mmap=True)
        ep_fps = float(meta["fps"])
        if fps is None:
            fps = ep_fps
        elif not math.isclose(fps, ep_fps, rel_tol=1e-9):
            raise ValueError(f"{path}: fps {ep_fps} differs from the dataset's {fps}; LeRobot has one fps per dataset")
        T = int(s["ee_pose"].shape[0])
        instruction = meta["instruction"]
        task_index = tasks.setdefault(instruction, len(tasks))
        state = np.concatenate([s["ee_pose"], np.asarray(s["gripper"])[:, None]], 1).astype(np.float32)
        action = np.concatenate([s["action_ee_pose"], np.asarray(s["action_gripper"])[:, None]], 1).astype(np.float32)
        joints = np.asarray(s["joint_pos"], dtype=np.float32)
        columns["observation.state"].append(state)
        columns["observation.joints"].append(joints)
        columns["action"].append(action)
        columns["timestamp"].append((np.arange(T) / fps).astype(np.float32))
        columns["frame_index"].append(np.arange(T, dtype=np.int64))
        columns["episode_index"].append(np.full(T, ep, dtype=np.int64))
        columns["index"].append(np.arange(first, first + T, dtype=np.int64))
        columns["task_index"].append(np.full(T, task_index, dtype=np.int64))
        row = {"episode_index": ep, "tasks": [instruction], "length": T,
               "data/chunk_index": 0, "data/file_index": 0,
               "dataset_from_index": first, "dataset_to_index": first + T}
        stats = {"observation.state": _stats(state), "observation.joints": _stats(joints), "action": _stats(action),
                 "timestamp": _stats(columns["timestamp"][-1][:, None]),
                 "frame_index": _stats(columns["frame_index"][-1][:, None]),
                 "episode_index": _stats(columns["episode_index"][-1][:, None]),
                 "index": _stats(columns["index"][-1][:, None]),
                 "task_index": _stats(columns["task_index"][-1][:, None])}
        for stream, key in CAMERAS.values():
            frames = np.asarray(s[stream])
            if frames.shape[0] != T:
                raise ValueError(f"{path}: {stream} has {frames.shape[0]} frames, ee_pose {T}")
            if key not in writers:
                writers[key] = _VideoWriter(out / VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0),
                                            fps, frames.shape[1], frames.shape[2], codec, pix_fmt, crf)
            start = writers[key].n
            writers[key].add(frames)
            row |= {f"videos/{key}/chunk_index": 0, f"videos/{key}/file_index": 0,
                    f"videos/{key}/from_timestamp": start / fps, f"videos/{key}/to_timestamp": (start + T) / fps}
            stats[key] = _image_stats(frames)
        row["_stats"] = stats
        row["_meta"] = json.dumps(meta)
        episodes.append(row)
        first += T
    for w in writers.values():
        w.close()
    fps_out = _fps_value(fps)

    def vec(name: str, width: int):
        flat = pa.array(np.concatenate(columns[name]).reshape(-1), type=pa.float32())
        return pa.FixedSizeListArray.from_arrays(flat, width)

    features = {
        **{key: {"dtype": "video", "shape": [w.shape[0], w.shape[1], 3], "names": ["height", "width", "channels"],
                 "info": _video_info(w.path, crf)} for key, w in writers.items()},
        "observation.state": {"dtype": "float32", "shape": [8], "names": STATE_NAMES},
        "observation.joints": {"dtype": "float32", "shape": [7], "names": JOINT_NAMES},
        "action": {"dtype": "float32", "shape": [8], "names": STATE_NAMES},
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "frame_index": {"dtype": "int64", "shape": [1], "names": None},
        "episode_index": {"dtype": "int64", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
        "task_index": {"dtype": "int64", "shape": [1], "names": None},
    }
    data = pa.table({
        "observation.state": vec("observation.state", 8),
        "observation.joints": vec("observation.joints", 7),
        "action": vec("action", 8),
        "timestamp": pa.array(np.concatenate(columns["timestamp"]), type=pa.float32()),
        **{k: pa.array(np.concatenate(columns[k]), type=pa.int64())
           for k in ("frame_index", "episode_index", "index", "task_index")},
    })
    data = data.replace_schema_metadata({"huggingface": json.dumps(_hf_features(features))})
    (out / DATA_PATH.format(chunk_index=0, file_index=0)).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, out / DATA_PATH.format(chunk_index=0, file_index=0))

    # Episodes table, columns in LeRobot's order: the per-episode stats flattened to
    # stats/<feature>/<stat> (features in info.json's order), meta/episodes/*, then this
    # project's own column gr2/meta last.
    ep_rows = []
    for row in episodes:
        stats, meta_json = row.pop("_stats"), row.pop("_meta")
        row |= {f"stats/{feat}/{name}": stats[feat][name] for feat in features for name in STAT_NAMES}
        row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0, META_COLUMN: meta_json}
        ep_rows.append(row)
    int_cols = {k for k in ep_rows[0] if k.endswith(("_index", "/count")) or k in ("length", "dataset_from_index",
                                                                                   "dataset_to_index")}
    fields = []
    for k, v in ep_rows[0].items():
        if k == "tasks":
            t = pa.list_(pa.string())
        elif k == META_COLUMN:
            t = pa.string()
        elif k.startswith("stats/"):
            t = pa.list_(pa.int64()) if k.endswith("/count") else pa.list_(pa.float64())
            depth = np.ndim(v)
            for _ in range(depth - 1):
                t = pa.list_(t)
        elif k in int_cols:
            t = pa.int64()
        else:
            t = pa.float64()
        fields.append(pa.field(k, t))
    schema = pa.schema(fields)
    ep_path = out / EPISODES_PATH.format(chunk_index=0, file_index=0)
    ep_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ep_rows, schema=schema), ep_path)

    # tasks.parquet: LeRobot writes a pandas DataFrame indexed by the task string; the same
    # columns plus the pandas metadata that makes `pd.read_parquet` give that index back.
    names = list(tasks)
    pandas_meta = {"index_columns": ["task"], "column_indexes": [
        {"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
         "metadata": {"encoding": "UTF-8"}}], "columns": [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64",
         "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None}],
        "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.3.3"}
    task_table = pa.table({"task_index": pa.array([tasks[n] for n in names], type=pa.int64()),
                           "task": pa.array(names, type=pa.string())})
    task_table = task_table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    pq.write_table(task_table, out / TASKS_PATH)

    all_stats = {f: _merge_stats([{n: r[f"stats/{f}/{n}"] for n in STAT_NAMES} for r in ep_rows]) for f in features}
    (out / STATS_PATH).write_text(json.dumps(all_stats, indent=4))

    # info.json: LeRobot's keys in its order (no key of this project's own: LeRobot warns on those).
    info = {"codebase_version": CODEBASE_VERSION, "fps": fps_out, "features": features,
            "total_episodes": len(episodes), "total_frames": first, "total_tasks": len(tasks),
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
            "robot_type": robot_type, "splits": {"train": f"0:{len(episodes)}"}}
    (out / INFO_PATH).write_text(json.dumps(info, indent=4))
    return info


def _hf_features(features: dict) -> dict:
    """The `huggingface` schema metadata of a data file: the non-video features as Hugging Face
    `datasets` Features (what LeRobot's writer leaves in its parquet files)."""
    out = {}
    for key, ft in features.items():
        if ft["dtype"] == "video":
            continue
        value = {"dtype": ft["dtype"], "_type": "Value"}
        out[key] = value if list(ft["shape"]) == [1] else {"feature": value, "length": ft["shape"][0], "_type": "List"}
    return {"info": {"features": out}}


# ---------------------------------------------------------------- import

def load_mapping(path: Path | str | None) -> dict:
    """The mapping of a YAML file over DEFAULT_MAPPING (a top-level entry replaces the default's)."""
    mapping = json.loads(json.dumps(DEFAULT_MAPPING))
    if path is not None:
        user = yaml.safe_load(Path(path).read_text()) or {}
        unknown = set(user) - set(DEFAULT_MAPPING)
        if unknown:
            raise ValueError(f"{path}: unknown mapping entries {sorted(unknown)}; known: {sorted(DEFAULT_MAPPING)}")
        mapping |= user
    return mapping


def _check_mapping(mapping: dict, features: dict) -> None:
    def need(key: str, what: str, video: bool) -> dict:
        if key not in features:
            raise KeyError(f"mapping: {what} names LeRobot key {key!r}, which the dataset does not have; "
                           f"its features are {sorted(features)}")
        ft = features[key]
        if video and ft["dtype"] not in ("video", "image"):
            raise ValueError(f"mapping: {what} {key!r} is a {ft['dtype']} feature, not a video")
        if not video and ft["dtype"] in ("video", "image", "string"):
            raise ValueError(f"mapping: {what} {key!r} is a {ft['dtype']} feature, not a vector")
        return ft
    for cam in CAMERAS:
        ft = need(mapping[cam], cam, True)
        if ft["dtype"] == "image":
            raise NotImplementedError(f"mapping: {cam} {mapping[cam]!r} is stored as images; only video features "
                                      "are imported")
    for part in ("state", "action"):
        m = mapping[part]
        ft = need(m["key"], f"{part}.key", False)
        width = int(np.prod(ft["shape"]))
        idx = [*m["position"], *m["quaternion"], m["gripper"]]
        if len(m["position"]) != 3 or len(m["quaternion"]) != 4:
            raise ValueError(f"mapping: {part} needs 3 position and 4 quaternion indices")
        bad = [i for i in idx if not 0 <= int(i) < width]
        if bad:
            raise IndexError(f"mapping: {part} indices {bad} outside {m['key']!r}'s {width} elements")
    if mapping.get("joints"):
        ft = need(mapping["joints"]["key"], "joints.key", False)
        if len(mapping["joints"]["index"]) != 7:
            raise ValueError("mapping: joints.index needs 7 indices (joint_1..joint_7)")


def _pose(values: np.ndarray, m: dict) -> tuple[np.ndarray, np.ndarray]:
    pose = values[:, [*m["position"], *m["quaternion"]]].astype(np.float32)
    lo, hi = m.get("gripper_range", [0.0, 1.0])
    g = values[:, m["gripper"]].astype(np.float64)
    grip = g if (lo, hi) == (0.0, 1.0) else (g - lo) / (hi - lo)
    return pose, grip.astype(np.float32)


def _read_v30(root: Path, info: dict):
    """(episode row, data table of the episode, {video key: (file, from_s, to_s)}) per episode."""
    pa, pq = _pa()
    ep_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not ep_files:
        raise FileNotFoundError(f"{root}: no meta/episodes/*/*.parquet")
    eps = pa.concat_tables([pq.read_table(f) for f in ep_files])
    cols = [c for c in eps.column_names if not c.startswith("stats/")]
    rows = sorted(eps.select(cols).to_pylist(), key=lambda r: r["episode_index"])
    tables: dict[Path, object] = {}
    video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]
    for row in rows:
        path = root / info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
        if path not in tables:
            tables = {path: pq.read_table(path)}   # keep one data file in memory
        table = tables[path]
        ep_col = table.column("episode_index").to_numpy()
        table = table.filter(pa.array(ep_col == row["episode_index"]))
        videos = {k: (root / info["video_path"].format(video_key=k, chunk_index=row[f"videos/{k}/chunk_index"],
                                                       file_index=row[f"videos/{k}/file_index"]),
                      float(row[f"videos/{k}/from_timestamp"]), float(row[f"videos/{k}/to_timestamp"]))
                  for k in video_keys}
        yield row, table, videos


def _read_v21(root: Path, info: dict):
    _, pq = _pa()
    rows = [json.loads(line) for line in (root / LEGACY_EPISODES_PATH).read_text().splitlines() if line.strip()]
    chunks = int(info.get("chunks_size", CHUNKS_SIZE))
    video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]
    for row in sorted(rows, key=lambda r: r["episode_index"]):
        ep = int(row["episode_index"])
        table = pq.read_table(root / info["data_path"].format(episode_chunk=ep // chunks, episode_index=ep))
        videos = {k: (root / info["video_path"].format(episode_chunk=ep // chunks, video_key=k, episode_index=ep),
                      0.0, None) for k in video_keys}
        yield row, table, videos


def _tasks(root: Path, version: str) -> dict[int, str]:
    if version.startswith("v2"):
        rows = [json.loads(line) for line in (root / LEGACY_TASKS_PATH).read_text().splitlines() if line.strip()]
        return {int(r["task_index"]): r["task"] for r in rows}
    _, pq = _pa()
    t = pq.read_table(root / TASKS_PATH)
    name = "task" if "task" in t.column_names else "__index_level_0__"
    return dict(zip(t.column("task_index").to_pylist(), t.column(name).to_pylist(), strict=True))


def import_dataset(src: Path | str, out: Path | str, mapping: dict | None = None) -> list[Path]:
    """Write the LeRobot dataset at `src` (v3.0 or v2.1) in the stack's episode format to `out`;
    returns the episode directories."""
    src, out = Path(src), Path(out)
    mapping = mapping or load_mapping(None)
    info = json.loads((src / INFO_PATH).read_text())
    version = str(info.get("codebase_version", ""))
    if version not in ("v3.0", "v2.1", "v2.0"):
        raise ValueError(f"{src}: codebase_version {version!r}; v3.0 and v2.1 are supported")
    features = info["features"]
    if mapping.get("joints") == DEFAULT_MAPPING["joints"] and mapping["joints"]["key"] not in features:
        mapping = mapping | {"joints": None}   # the default's joints are only in the stack's own exports
    _check_mapping(mapping, features)
    fps = float(info["fps"])
    tasks = _tasks(src, version)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "index.jsonl").exists():
        raise FileExistsError(f"{out} already holds a dataset (index.jsonl)")
    reader = _read_v21 if version.startswith("v2") else _read_v30
    written = []
    for row, table, videos in reader(src, info):
        ep = int(row["episode_index"])
        T = table.num_rows
        state = np.asarray(table.column(mapping["state"]["key"]).to_pylist(), dtype=np.float64).reshape(T, -1)
        action = np.asarray(table.column(mapping["action"]["key"]).to_pylist(), dtype=np.float64).reshape(T, -1)
        ee_pose, gripper = _pose(state, mapping["state"])
        action_ee_pose, action_gripper = _pose(action, mapping["action"])
        if mapping.get("joints"):
            j = np.asarray(table.column(mapping["joints"]["key"]).to_pylist(), dtype=np.float32).reshape(T, -1)
            joint_pos = j[:, mapping["joints"]["index"]]
        else:
            joint_pos = np.full((T, 7), np.nan, np.float32)
        streams = {"joint_pos": joint_pos, "gripper": gripper, "ee_pose": ee_pose,
                   "action_ee_pose": action_ee_pose, "action_gripper": action_gripper}
        for cam, (stream, _) in CAMERAS.items():
            path, from_s, to_s = videos[mapping[cam]]
            frames = decode_frames(path, from_s, to_s, fps)
            if frames.shape[0] != T:
                raise ValueError(f"{path}: episode {ep} has {T} data rows but {frames.shape[0]} video frames "
                                 f"between {from_s} s and {to_s} s")
            streams[stream] = frames
        streams = stack_streams(streams)
        task_ids = table.column("task_index").to_pylist() if "task_index" in table.column_names else []
        if row.get("tasks"):
            instruction = row["tasks"][0]
        else:
            instruction = tasks.get(task_ids[0], "") if task_ids else ""
        base = {"task": "lerobot", "setting": "episode", "seed": ep, "skill": None, "success": True}
        if row.get(META_COLUMN):
            base = json.loads(row[META_COLUMN])
        meta = base | {"instruction": instruction, "fps": fps, "frames": T, "streams": stream_shapes(streams),
                       "source": {"lerobot": str(src), "repo_id": info.get("repo_id"), "episode_index": ep,
                                  "codebase_version": version}}
        written.append(write_episode(out, meta, streams))
    return written


# ---------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    """The command line: export or import; exit status 2 with one line on a bad input."""
    p = argparse.ArgumentParser(prog="python -m gr2_bringup.lerobot_dataset",
                                description="Convert between the stack's episode datasets and LeRobot v3.0 datasets.")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="stack dataset -> LeRobot v3.0 dataset")
    e.add_argument("src", type=Path, help="dataset directory with index.jsonl")
    e.add_argument("out", type=Path, help="new LeRobot dataset directory")
    e.add_argument("--repo-id", default=None,
                   help="the dataset's name, e.g. user/gr2_pick_cube (not stored: LeRobot names a dataset by its "
                        "hub repository or the repo_id given with root=OUT; printed for that call)")
    e.add_argument("--codec", default="libx264", choices=["libx264", "libx264rgb"],
                   help="video encoder (libx264rgb: exact pixels, fewer decoders)")
    e.add_argument("--pix-fmt", default="yuv444p", choices=["yuv444p", "yuv420p"], help="pixel format for libx264")
    e.add_argument("--crf", type=int, default=0, help="x264 constant rate factor (0: lossless in YUV)")
    i = sub.add_parser("import", help="LeRobot v3.0 or v2.1 dataset -> stack dataset")
    i.add_argument("src", type=Path, help="LeRobot dataset directory (with meta/info.json)")
    i.add_argument("out", type=Path, help="output dataset directory")
    i.add_argument("--mapping", type=Path, default=None,
                   help="YAML naming the LeRobot keys of the cameras, state and action (default: what export writes)")
    args = p.parse_args(argv)
    try:
        if args.cmd == "export":
            info = export_dataset(args.src, args.out, args.repo_id, codec=args.codec, pix_fmt=args.pix_fmt,
                                  crf=args.crf)
            print(f"{args.out}: LeRobot {info['codebase_version']} dataset, {info['total_episodes']} episodes, "
                  f"{info['total_frames']} frames, {info['total_tasks']} tasks; load it with "
                  f"LeRobotDataset({args.repo_id or 'local/' + args.out.name!r}, root={str(args.out)!r})")
        else:
            dirs = import_dataset(args.src, args.out, load_mapping(args.mapping))
            print(f"{args.out}: {len(dirs)} episodes")
    except (FileNotFoundError, FileExistsError, KeyError, ValueError, IndexError, NotImplementedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
