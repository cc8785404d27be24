"""The episode format of the stack's training data: who records it (the sim's dataset generator,
`gr2-bag to-dataset`, DAgger rounds, `gr2_bringup.sim_frames`' random motions for the VQGAN)
writes with `write_episode`, the policy reads with `load_episode`. A data contract like the topic
names, so it lives beside them: the recorders and the reader depend on it instead of on each
other (the policy must not import the simulator, the simulator must not install the policy's torch).

On-disk format (documented in SIM.md), chosen so that training can stream windows of frames
without decoding whole episodes: every stream is one uncompressed .npy file whose first axis
is time, so `np.load(path, mmap_mode="r")[t:t + h]` reads only the frames it needs.

    <out>/index.jsonl                       one JSON line per episode (dir, task, instruction, success, frames)
    <out>/<episode>/meta.json               instruction, task, skill, setting, seed, success, fps, streams
    <out>/<episode>/head_rgb.npy            uint8 (T, H, W, 3)
    <out>/<episode>/wrist_rgb.npy           uint8 (T, H, W, 3)
    <out>/<episode>/joint_pos.npy           float32 (T, 7) rad, joint_1..joint_7
    <out>/<episode>/gripper.npy             float32 (T,) measured opening, 0 open .. 1 closed
    <out>/<episode>/ee_pose.npy             float32 (T, 7) TCP in base_link: x y z qx qy qz qw
    <out>/<episode>/action_ee_pose.npy      float32 (T, 7) the expert's TCP target issued after frame t
    <out>/<episode>/action_gripper.npy      float32 (T,) the expert's gripper command after frame t
  optional (DAgger rounds write them):
    <out>/<episode>/action_chunk_ee_pose.npy  float32 (T, k, 7) the expert's plan from the state at
                                            frame t: its TCP targets at t, t + 1/fps, ... (k of them)
    <out>/<episode>/action_chunk_gripper.npy  float32 (T, k) the plan's gripper commands

Why chunk labels: a policy that predicts k-step chunks is trained on action_ee_pose[t:t+k]. For
an expert's own episode that sequence is its plan; for a policy's rollout relabelled step by step
it is not: where the policy stood still, k copies of the first step of a plan label a chunk that
says "move one step and stop". The plan from each visited state is the right label.

ROS-free.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STREAMS = ("head_rgb", "wrist_rgb", "joint_pos", "gripper", "ee_pose", "action_ee_pose", "action_gripper")
CHUNK_STREAMS = ("action_chunk_ee_pose", "action_chunk_gripper")


def stack_streams(streams: dict[str, list]) -> dict[str, np.ndarray]:
    """Recorded lists -> the on-disk arrays (frames uint8, everything else float32)."""
    return {k: np.asarray(v, dtype=np.uint8 if k.endswith("rgb") else np.float32) for k, v in streams.items()}


def stream_shapes(streams: dict[str, np.ndarray]) -> dict[str, list]:
    """meta.json's `streams` entry: shape and dtype of each stream."""
    return {k: [list(v.shape), str(v.dtype)] for k, v in streams.items()}


def write_episode(out: Path, meta: dict, streams: dict[str, np.ndarray]) -> Path:
    """Write one episode as <out>/<task>-<setting>-<seed>[-<variant>]/ (one .npy per stream,
    meta.json) and append its row to <out>/index.jsonl; returns the episode directory. `variant`
    (meta, optional) names a second episode of one seed's layout (e.g. "exchanged")."""
    name = f"{meta['task']}-{meta['setting']}-{meta['seed']:06d}"
    if meta.get("variant"):
        name += f"-{meta['variant']}"
    path = out / name
    path.mkdir(parents=True, exist_ok=True)
    for key, array in streams.items():
        np.save(path / f"{key}.npy", array)
    (path / "meta.json").write_text(json.dumps(meta, indent=1))
    with open(out / "index.jsonl", "a") as index:
        index.write(json.dumps({"dir": name, "task": meta["task"], "instruction": meta["instruction"],
                                "setting": meta["setting"], "success": meta["success"],
                                "frames": meta["frames"]} | ({"relabelled": True} if meta.get("relabelled") else {}))
                    + "\n")
    return path


def has_expert_labels(row: dict) -> bool:
    """Whether an index row's actions are the expert's: a successful expert demonstration, or a
    policy rollout relabelled by the expert (DAgger; kept whether the rollout succeeded or not)."""
    return bool(row.get("success", True) or row.get("relabelled", False))


def load_episode(path: Path | str, mmap: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Meta and memory-mapped streams of one episode (what a training loader reads): every stream
    of STREAMS, and those of CHUNK_STREAMS the episode has."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    names = [*STREAMS, *(k for k in CHUNK_STREAMS if (path / f"{k}.npy").is_file())]
    return meta, {k: np.load(path / f"{k}.npy", mmap_mode="r" if mmap else None) for k in names}
