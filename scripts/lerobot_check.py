"""Check this project's LeRobot export against LeRobot itself (needs `lerobot` installed; the
project does not depend on it, so run it from a separate environment, e.g. a venv with
`pip install 'lerobot[dataset]==0.6.1'` on Python >= 3.12, with this repository's src/ not
on the path: the script reads the dataset files, it imports nothing of the project).

    python scripts/lerobot_check.py load ROOT [--repo-id NAME]
        Load the v3.0 dataset at ROOT (e.g. written by `python -m gr2_bringup.lerobot_dataset
        export`) with lerobot.datasets.lerobot_dataset.LeRobotDataset, iterate every frame
        (videos decoded by LeRobot's decoder) and print what was checked; exit 1 on a failure.

    python scripts/lerobot_check.py write ROOT [--episodes 2 --frames 6 --size 32]
        Write a small dataset with LeRobot's own writer (LeRobotDataset.create, add_frame,
        save_episode, finalize) with the features the project's export writes; it is the
        source of tests/data/lerobot_v30/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

STATE_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw", "gripper"]
JOINT_NAMES = [f"joint_{i}" for i in range(1, 8)]
CAMERAS = ("observation.images.head", "observation.images.wrist")


def _features(size: int) -> dict:
    video = {"dtype": "video", "shape": (size, size, 3), "names": ["height", "width", "channels"]}
    return {CAMERAS[0]: dict(video), CAMERAS[1]: dict(video),
            "observation.state": {"dtype": "float32", "shape": (8,), "names": STATE_NAMES},
            "observation.joints": {"dtype": "float32", "shape": (7,), "names": JOINT_NAMES},
            "action": {"dtype": "float32", "shape": (8,), "names": STATE_NAMES}}


def write(root: Path, episodes: int, frames: int, size: int, fps: int) -> None:
    """A dataset written by LeRobot's writer: deterministic values (episode e, frame t:
    state[i] = e + t / 100 + i / 1000, action = state + 0.5, joints = -state[:7]) and frames
    of smooth colour ramps, one task per episode."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = LeRobotDataset.create("gr2/lerobot_writer_fixture", fps=fps, features=_features(size), root=root,
                               robot_type="kinova_gen3_2f85", use_videos=True)
    yy, xx = np.mgrid[0:size, 0:size]
    tasks = ["pick up the red cube", "pick up the green cube"]
    for e in range(episodes):
        for t in range(frames):
            state = (e + t / 100 + np.arange(8) / 1000).astype(np.float32)
            img = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 40 * t + 60 * e)], -1) % 256
            ds.add_frame({CAMERAS[0]: img.astype(np.uint8), CAMERAS[1]: img[::-1].astype(np.uint8),
                          "observation.state": state, "observation.joints": -state[:7],
                          "action": state + np.float32(0.5), "task": tasks[e % len(tasks)]})
        ds.save_episode()
    ds.finalize()
    print(f"{root}: written by LeRobot's writer, {episodes} episodes of {frames} frames, {size}x{size}, {fps} fps")


def load(root: Path, repo_id: str | None) -> int:
    """Load ROOT with LeRobotDataset and check it against the files; returns the exit status."""
    import pyarrow.parquet as pq
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    info = json.loads((root / "meta/info.json").read_text())
    repo_id = repo_id or info.get("repo_id") or "local/" + root.name
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    ds = LeRobotDataset(repo_id, root=root, video_backend="pyav")
    meta = ds.meta
    check(meta.info.codebase_version == "v3.0", f"codebase_version {meta.info.codebase_version}")
    check(ds.fps == info["fps"] and isinstance(ds.fps, int), f"fps {ds.fps!r} (int) == info.json's {info['fps']!r}")
    check(set(ds.features) == set(info["features"]), f"features {sorted(ds.features)}")
    check(meta.video_keys == [k for k, f in info["features"].items() if f["dtype"] == "video"],
          f"video keys {meta.video_keys}")
    check((ds.num_episodes, ds.num_frames) == (info["total_episodes"], info["total_frames"]),
          f"{ds.num_episodes} episodes, {ds.num_frames} frames")
    tasks = list(meta.tasks.index)
    check(len(tasks) == info["total_tasks"] and list(meta.tasks["task_index"]) == list(range(len(tasks))),
          f"tasks {tasks}")
    data = pq.read_table(sorted((root / "data").glob("*/*.parquet"))[0]).to_pydict()
    eps = {r["episode_index"]: r for r in meta.episodes}
    n, frame_errors, image_ok = 0, [], True
    for i in range(len(ds)):
        item = ds[i]
        ep = int(item["episode_index"])
        n += 1
        frame_errors += [k for k in ("observation.state", "action")
                         if not np.allclose(item[k].numpy(), data[k][i], atol=0)]
        if item["task"] != tasks[int(item["task_index"])] or item["task"] not in eps[ep]["tasks"]:
            frame_errors.append(f"task of frame {i}")
        if int(item["index"]) != i or not eps[ep]["dataset_from_index"] <= i < eps[ep]["dataset_to_index"]:
            frame_errors.append(f"index of frame {i}")
        for key in meta.video_keys:
            img = item[key]
            h, w, c = info["features"][key]["shape"]
            image_ok &= (img.shape == (c, h, w) and img.dtype == torch.float32 and 0 <= float(img.min())
                         and float(img.max()) <= 1)
    check(n == info["total_frames"] and not frame_errors,
          f"iterated {n} frames: state, action, task, index as in the files {frame_errors[:5] or ''}")
    check(image_ok, f"decoded video frames of {meta.video_keys}: (C, H, W) float32 in [0, 1]")
    ep_lengths = {e: r["length"] for e, r in eps.items()}
    check(all(r["dataset_to_index"] - r["dataset_from_index"] == r["length"] for r in eps.values()),
          f"episode lengths {ep_lengths}")
    stats = meta.stats
    want = {k for k in info["features"]}
    check(want <= set(stats), f"stats for {sorted(stats)}")
    for key in ("observation.state", "action", *meta.video_keys):
        s = stats[key]
        shape = (3, 1, 1) if key in meta.video_keys else tuple(info["features"][key]["shape"])
        check(all(np.asarray(s[k]).shape == shape for k in ("min", "max", "mean", "std")),
              f"stats {key}: min/max/mean/std shaped {shape}, count {np.asarray(s['count']).tolist()}")
    # The normalisation a policy builds from these stats: pi0.5's QUANTILES (q01/q99) and MEAN_STD.
    from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.lerobot_types import TransitionKey
    from lerobot.processor.converters import create_transition
    from lerobot.processor.normalize_processor import NormalizerProcessorStep

    item = ds[0]
    pf = {"observation.state": PolicyFeature(FeatureType.STATE, (8,)),
          "action": PolicyFeature(FeatureType.ACTION, (8,))}
    for mode in (NormalizationMode.QUANTILES, NormalizationMode.MEAN_STD):
        try:
            norm = {FeatureType.STATE: mode, FeatureType.ACTION: mode}
            step = NormalizerProcessorStep.from_lerobot_dataset(ds, pf, norm)
            out = step(create_transition(observation={"observation.state": item["observation.state"]},
                                         action=item["action"]))
            ok = bool(torch.isfinite(out[TransitionKey.ACTION]).all())
            check(ok, f"{mode.name} normalisation of state and action from the dataset's stats")
        except Exception as err:  # noqa: BLE001 - reported as a failed check
            check(False, f"{mode.name} normalisation of state and action: {type(err).__name__}: {err}")
    # LeRobot's decoder picks, for frame i of episode e, the frame at from_timestamp + timestamp in the
    # video file: the same frame as a plain decode of the file at that position.
    import av

    last = eps[max(eps)]
    for key in meta.video_keys:
        with av.open(str(root / meta.get_video_file_path(last["episode_index"], key))) as c:
            plain = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        start = round(last[f"videos/{key}/from_timestamp"] * ds.fps)
        got = np.stack([(ds[i][key].permute(1, 2, 0).numpy() * 255).round()
                        for i in range(last["dataset_from_index"], last["dataset_to_index"])])
        err = np.abs(got - plain[start:start + last["length"]]).max()
        check(err <= 1, f"{key}: LeRobot's decoded frames of the last episode (from {start / ds.fps:g} s in the "
              f"file) equal a plain PyAV decode (max abs {err:.0f})")
    # A training-style read: frames stacked by LeRobot's delta_timestamps machinery.
    dt = {CAMERAS[0]: [-1 / ds.fps, 0.0], "action": [0.0, 1 / ds.fps]} if CAMERAS[0] in meta.video_keys else None
    if dt:
        ds2 = LeRobotDataset(repo_id, root=root, video_backend="pyav", delta_timestamps=dt)
        item = ds2[1]
        check(tuple(item[CAMERAS[0]].shape[:2]) == (2, 3) and tuple(item["action"].shape) == (2, 8),
              f"delta_timestamps read: {CAMERAS[0]} {tuple(item[CAMERAS[0]].shape)}, action "
              f"{tuple(item['action'].shape)}")
    print(f"{root}: {'all checks passed' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """The command line: load or write."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("load", help="load a v3.0 dataset with LeRobotDataset and check it")
    lo.add_argument("root", type=Path)
    lo.add_argument("--repo-id", default=None)
    wr = sub.add_parser("write", help="write a small dataset with LeRobot's own writer")
    wr.add_argument("root", type=Path)
    wr.add_argument("--episodes", type=int, default=2)
    wr.add_argument("--frames", type=int, default=6)
    wr.add_argument("--size", type=int, default=32)
    wr.add_argument("--fps", type=int, default=10)
    args = p.parse_args(argv)
    if args.cmd == "write":
        write(args.root, args.episodes, args.frames, args.size, args.fps)
        return 0
    return load(args.root, args.repo_id)


if __name__ == "__main__":
    sys.exit(main())
