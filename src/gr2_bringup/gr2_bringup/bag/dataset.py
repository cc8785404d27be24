"""Turn a recorded session bag into training episodes in the sim dataset format.

The on-disk format is the one gr2_contract.episode defines and writes (`write_episode`:
one directory per episode of .npy streams + meta.json, listed in index.jsonl); this module
only extracts the same streams from a bag, so teleoperation demos and sim demos train alike.

Per step, on a grid at `rate_hz` over the receive-time axis of the bag, each stream takes
its latest message at or before the step (no look-ahead, as the policy sees it live):
head/wrist images, robot state (joints, gripper opening, TCP pose). The action of step t is
what happened next: the measured TCP pose of step t+1 (hindsight relabelling: a teleoperator's
intent is where the arm went) and the gripper command in force at t+1 (/gr2/gripper_command,
or the robot state's closed flag when none was recorded). Each instruction starts a new
episode; steps before the first instruction, or before all streams have a message, are dropped.
A step whose camera or robot-state message must not be used by the rule every stamped input
follows (`gr2_contract.stamp_problem`, checked against the step's receive time: stamped in the
future, too old, or its stream stopped) is dropped too, with the reason, and splits the episode
there: a policy would never have acted on it. A demonstration recorded by a teleop session
(gr2_bringup.teleop.session) carries its outcome on /gr2/teleop/episode_success: the last one sets
the episodes' success. With `trim_idle_m` > 0 the steps before the first and after the last one in
which the TCP moves at least that far (m, to the next step) or the gripper command changes are
dropped: the operator reaching for the device, or letting go of it. ROS-free.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np

from gr2_contract import (
    ARM_JOINTS,
    EPISODE_OUTCOME,
    GRIPPER_COMMAND,
    HEAD_CAMERA,
    INSTRUCTION,
    ROBOT_STATE,
    WRIST_CAMERA,
    image_topic,
    stamp_problem,
    stamp_seconds,
    unwrap_near,
)

from .reader import decode, read_info, read_messages
from .types import bag_typestore

IMAGE_TOPICS = {"head_rgb": image_topic(HEAD_CAMERA), "wrist_rgb": image_topic(WRIST_CAMERA)}


@dataclass(frozen=True)
class ConvertConfig:
    """How a recorded session becomes dataset episodes (`gr2-bag to-dataset`): step rate and data ages."""
    rate_hz: float = 10.0  # the sim datasets' default fps
    min_steps: int = 2  # shorter instruction segments are not episodes
    success: bool = True  # recorded demos are taken as successful unless told otherwise
    max_age_s: float = 0.5  # a camera frame or robot state older than this at a step is not used
    future_tolerance_s: float = 0.5  # nor one stamped further ahead of its receive time (another clock)
    trim_idle_m: float = 0.0  # m per step: leading/trailing steps with less TCP motion are dropped (0: keep all)


def image_rgb(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a decoded sensor_msgs/Image in a common 8-bit encoding."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
    if msg.encoding not in channels:
        raise ValueError(f"image encoding {msg.encoding!r} not supported (use one of {sorted(channels)})")
    c = channels[msg.encoding]
    rows = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * c].reshape(msg.height, msg.width, c)
    if c == 1:
        return np.repeat(img, 3, axis=2)
    img = img[..., :3]
    return img[..., ::-1].copy() if msg.encoding.startswith("bgr") else img.copy()


class _Stream:
    """Decoded messages of one topic on the receive-time axis, sampled as 'latest at or before t'."""

    def __init__(self, name: str = ""):
        self.name = name
        self.times: list[int] = []
        self.stamps: list[float | None] = []    # header stamps, s (None: the type has no header)
        self.values: list = []

    def add(self, t: int, value, stamp: float | None = None) -> None:
        self.times.append(t)
        self.stamps.append(stamp)
        self.values.append(value)

    def at(self, t: int):
        i = bisect_right(self.times, t) - 1
        return self.values[i] if i >= 0 else None

    def problem(self, t: int, cfg: ConvertConfig) -> str | None:
        """Why the latest message at or before `t` must not be used at `t` (stamp_problem), or None."""
        i = bisect_right(self.times, t) - 1
        if i < 0:
            return f"no {self.name} yet"
        received = self.times[i] * 1e-9
        stamp = self.stamps[i] if self.stamps[i] is not None else received
        return stamp_problem(self.name, stamp, t * 1e-9, cfg.max_age_s, cfg.future_tolerance_s, received=received)

    def first(self) -> int | None:
        return self.times[0] if self.times else None


def continuous_joints() -> np.ndarray:
    """Which of ARM_JOINTS are continuous, from the URDF the robot description names."""
    from gr2_description.joint_limits import read_joint_limits
    from gr2_description.robot import load_robot_description
    limits = read_joint_limits(load_robot_description().urdf_path, tuple(ARM_JOINTS))
    return np.array([limits[j].continuous for j in ARM_JOINTS])


def unwrap_continuous(joint_pos: np.ndarray, continuous: np.ndarray | None = None) -> np.ndarray:
    """(T, 7) joint angles with every continuous joint continued from its previous sample by the
    one unwrapping rule (gr2_contract.unwrap_near): a recording whose driver changed branch (a
    2*pi step) gives a dataset without it."""
    continuous = continuous_joints() if continuous is None else continuous
    out = np.array(joint_pos, dtype=np.float64)
    for t in range(1, len(out)):
        out[t] = np.where(continuous, unwrap_near(out[t], out[t - 1]), out[t])
    return out.astype(joint_pos.dtype)


def _state_row(msg) -> tuple[np.ndarray, float, np.ndarray, float]:
    index = {name: i for i, name in enumerate(msg.joint_names)}
    missing = [j for j in ARM_JOINTS if j not in index]
    if missing:
        raise ValueError(f"{ROBOT_STATE} lacks joints {missing}")
    joints = np.array([msg.joint_positions[index[j]] for j in ARM_JOINTS], dtype=np.float32)
    p, q = msg.ee_pose.position, msg.ee_pose.orientation
    pose = np.array([p.x, p.y, p.z, q.x, q.y, q.z, q.w], dtype=np.float32)
    return joints, float(msg.gripper_position), pose, float(msg.gripper_closed)


def extract_episodes(bag: str | Path, cfg: ConvertConfig = ConvertConfig(),
                     dropped: list[str] | None = None) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """(meta, streams) per instruction segment, streams as gr2_contract.episode.STREAMS; a
    segment is split where steps are dropped for their inputs' stamps. `dropped`, when given,
    receives one line per dropped step (its time and the reason)."""
    if not cfg.rate_hz > 0:
        raise ValueError(f"rate must be > 0 Hz, got {cfg.rate_hz}")
    bag = Path(bag)
    info = read_info(bag)
    needed = [*IMAGE_TOPICS.values(), ROBOT_STATE, INSTRUCTION]
    missing = [t for t in needed if info.topics.get(t) is None or info.topics[t].count == 0]
    if missing:
        raise ValueError(f"bag {bag} has no messages on {missing}; a dataset needs cameras, "
                         f"robot state and an instruction")
    store = bag_typestore()
    streams = {k: _Stream(k) for k in (*IMAGE_TOPICS, "state", "gripper_cmd", "instruction", "outcome")}
    key_of = {**{t: k for k, t in IMAGE_TOPICS.items()}, ROBOT_STATE: "state",
              GRIPPER_COMMAND: "gripper_cmd", INSTRUCTION: "instruction", EPISODE_OUTCOME: "outcome"}
    topics = [t for t in key_of if t in info.topics]
    for m in read_messages(bag, topics):
        msg = decode(m, store)
        key = key_of[m.topic]
        value = (image_rgb(msg) if key.endswith("rgb") else _state_row(msg) if key == "state"
                 else float(msg.position) if key == "gripper_cmd" else msg.data)   # instruction, outcome
        header = getattr(msg, "header", None)
        streams[key].add(m.timestamp_ns, value, stamp_seconds(header.stamp) if header is not None else None)

    if streams["outcome"].values:   # a teleop session said how the demonstration ended
        from dataclasses import replace
        cfg = replace(cfg, success=bool(streams["outcome"].values[-1]))
    period = int(round(1e9 / cfg.rate_hz))
    ready = max(streams[k].first() for k in (*IMAGE_TOPICS, "state"))
    instr = streams["instruction"]
    episodes = []
    for seg, start in enumerate(instr.times):
        end = instr.times[seg + 1] if seg + 1 < len(instr.times) else info.end_ns + 1
        text = instr.values[seg]
        grid = np.arange(max(start, ready), end, period, dtype=np.int64)
        usable = []
        for t in grid:
            problems = [p for k in (*IMAGE_TOPICS, "state") if (p := streams[k].problem(int(t), cfg))]
            usable.append(not problems)
            if problems and dropped is not None:
                dropped.append(f"{(int(t) - info.start_ns) * 1e-9:.3f} s: " + "; ".join(problems))
        for run in _runs(grid, usable):
            if cfg.trim_idle_m > 0:
                run = _trim_idle(streams, run, cfg.trim_idle_m)
            if len(run) >= cfg.min_steps + 1:  # +1: the last step has no "next" for its action
                episodes.append(_episode(streams, run, text, len(episodes), bag, cfg))
    return episodes


def _trim_idle(streams: dict[str, _Stream], run: np.ndarray, min_motion: float) -> np.ndarray:
    """`run` without its idle head and tail: kept from the step before the first active one to the
    step after the last (an active step's action is the next step's pose, so that one stays)."""
    poses = np.array([streams["state"].at(int(t))[2][:3] for t in run])
    grip = np.array([-1.0 if (g := streams["gripper_cmd"].at(int(t))) is None else g for t in run])
    active = (np.linalg.norm(np.diff(poses, axis=0), axis=1) >= min_motion) | (np.diff(grip) != 0)
    steps = np.flatnonzero(active)
    if not len(steps):
        return run[:0]
    return run[steps[0]:steps[-1] + 2]


def _runs(grid: np.ndarray, usable: list[bool]) -> list[np.ndarray]:
    """The maximal runs of consecutive usable grid steps."""
    return [np.array([t for t, _ in run], dtype=np.int64)
            for ok, run in groupby(zip(grid, usable, strict=True), key=lambda step: step[1]) if ok]


def _episode(streams: dict[str, _Stream], grid: np.ndarray, text: str, index: int, bag: Path,
             cfg: ConvertConfig) -> tuple[dict, dict[str, np.ndarray]]:
    frames = {k: [] for k in ("head_rgb", "wrist_rgb", "joint_pos", "gripper", "ee_pose", "grip_cmd")}
    for t in grid:
        for k in IMAGE_TOPICS:
            frames[k].append(streams[k].at(int(t)))
        joints, opening, pose, closed = streams["state"].at(int(t))
        cmd = streams["gripper_cmd"].at(int(t))
        frames["joint_pos"].append(joints)
        frames["gripper"].append(opening)
        frames["ee_pose"].append(pose)
        frames["grip_cmd"].append(closed if cmd is None else cmd)
    arrays = {k: np.asarray(v, dtype=np.uint8 if k.endswith("rgb") else np.float32) for k, v in frames.items()}
    arrays["joint_pos"] = unwrap_continuous(arrays["joint_pos"])
    out = {k: arrays[k][:-1] for k in ("head_rgb", "wrist_rgb", "joint_pos", "gripper", "ee_pose")}
    out["action_ee_pose"] = arrays["ee_pose"][1:]
    out["action_gripper"] = arrays["grip_cmd"][1:]
    height, width = out["head_rgb"].shape[1:3]
    meta = {"instruction": text, "task": re.sub(r"[^A-Za-z0-9_.]+", "_", bag.name), "skill": "recorded",
            "setting": "recorded", "seed": index, "success": bool(cfg.success), "fps": cfg.rate_hz,
            "frames": int(len(out["joint_pos"])), "image_size": [int(height), int(width)],
            "source_bag": str(bag.resolve()), "start_ns": int(grid[0]),
            "streams": {k: [list(v.shape), str(v.dtype)] for k, v in out.items()}}
    return meta, out


def convert_bag(bag: str | Path, out: str | Path, rate_hz: float = 10.0, success: bool = True,
                trim_idle_m: float = 0.0) -> str:
    """Write the bag's episodes with the dataset format's writer (gr2_contract.episode); returns a
    summary (a second line when steps were dropped for their inputs' stamps)."""
    from gr2_contract.episode import write_episode  # the one writer of the format

    dropped: list[str] = []
    episodes = extract_episodes(bag, ConvertConfig(rate_hz=rate_hz, success=success, trim_idle_m=trim_idle_m),
                                dropped)
    if not episodes:
        raise ValueError(f"bag {bag} yields no episode (every instruction segment is shorter than "
                         f"{ConvertConfig.min_steps + 1} usable steps at {rate_hz} Hz once all streams are present)"
                         + (f"; {len(dropped)} steps dropped, the first at {dropped[0]}" if dropped else ""))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_episode(out, meta, streams) for meta, streams in episodes]
    steps = sum(meta["frames"] for meta, _ in episodes)
    lines = [f"wrote {len(paths)} episode(s), {steps} steps at {rate_hz:g} Hz, into {out}: "
             + ", ".join(p.name for p in paths)]
    if dropped:
        lines.append(f"dropped {len(dropped)} steps whose inputs must not be used (first: {dropped[0]}; "
                     f"last: {dropped[-1]})")
    return "\n".join(lines)
