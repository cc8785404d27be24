"""Open-loop evaluation: the policy's action chunks, predicted while a session bag was replayed
into it, against the motion the robot actually made in that session (ROS-free).

Chunk pose i is the commanded TCP pose at chunk.stamp + (i + 1) * dt (ActionChunk.msg); it is
compared with the recorded robot state (header stamps) at that time, linearly interpolated.
A replay with `restamp` shifts every header stamp by one constant, which the player logs; a
`clock` replay keeps the stamps (offset 0). Without it given, the shift is recovered as the
one that maps every chunk stamp onto a recorded camera stamp (chunks carry their observation's
camera stamp, within float rounding) when exactly one does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OpenLoopResult:
    """Predicted chunk poses vs the recorded TCP positions (m) over one session."""
    chunks: int
    poses: int  # predicted poses that fell inside the recorded state's time span
    position_error_mean_m: float
    position_error_p95_m: float
    first_pose_error_mean_m: float  # the part of a chunk that is executed first
    stamp_offset_ns: int


def recover_offset(chunk_stamps_ns: list[int], camera_stamps_ns: list[int], tolerance_ns: int = 2_000) -> int:
    """The constant shift between chunk stamps and recorded camera stamps.

    Matched within `tolerance_ns` because a stamp that went through float seconds (as in the
    policy node) keeps only ~0.2 us of resolution at today's epoch times.
    """
    cams = np.unique(np.asarray(camera_stamps_ns, dtype=np.int64))
    stamps = np.asarray(chunk_stamps_ns, dtype=np.int64)
    if not len(stamps):
        raise ValueError("no action chunks to evaluate")
    candidates = []
    for cam in cams:
        offset = int(stamps[0] - cam)
        shifted = stamps - offset
        i = np.clip(np.searchsorted(cams, shifted), 1, len(cams) - 1)
        nearest = np.minimum(np.abs(cams[i] - shifted), np.abs(cams[i - 1] - shifted))
        if (nearest <= tolerance_ns).all():
            candidates.append(offset)
    if len(candidates) == 1:
        return candidates[0]
    if candidates:  # a perfectly regular camera clock (sim) admits shifts by whole frame periods
        raise ValueError(f"{len(candidates)} stamp shifts fit (regular camera clock): give the offset "
                         f"that `gr2-bag play --restamp` logged, or replay with --clock (offset 0)")
    raise ValueError("chunk stamps do not map onto the recorded camera stamps by one constant shift: "
                     "were the chunks predicted from this bag?")


def evaluate(chunks: list[tuple[int, float, np.ndarray]], state_times_ns: np.ndarray, state_positions: np.ndarray,
             camera_stamps_ns: list[int], offset_ns: int | None = None) -> OpenLoopResult:
    """chunks: (header stamp ns, dt s, (k, 3) predicted positions); state: recorded stamps and (N, 3)
    positions; offset_ns: replay stamp shift (0 for a --clock replay; None: recover it)."""
    offset = recover_offset([c[0] for c in chunks], camera_stamps_ns) if offset_ns is None else int(offset_ns)
    t_state = (np.asarray(state_times_ns, dtype=np.int64) - state_times_ns[0]) / 1e9
    errors, first = [], []
    for stamp, dt, positions in chunks:
        t = (stamp - offset - state_times_ns[0]) / 1e9 + dt * np.arange(1, len(positions) + 1)
        inside = (t >= t_state[0]) & (t <= t_state[-1])
        if not inside.any():
            continue
        actual = np.stack([np.interp(t[inside], t_state, state_positions[:, j]) for j in range(3)], axis=1)
        e = np.linalg.norm(np.asarray(positions)[inside] - actual, axis=1)
        errors.extend(e.tolist())
        if inside[0]:
            first.append(e[0])
    if not errors:
        raise ValueError("no predicted pose falls inside the recorded time span")
    errors = np.array(errors)
    return OpenLoopResult(len(chunks), len(errors), float(errors.mean()), float(np.percentile(errors, 95)),
                          float(np.mean(first)) if first else float("nan"), int(offset))


def evaluate_bags(session_bag, replay_bag, offset_ns: int | None = None) -> OpenLoopResult:
    """`session_bag`: the recording (robot state, cameras); `replay_bag`: /gr2/action_chunk
    recorded while the session was played into the policy (gr2-bag play + gr2-bag record)."""
    from gr2_contract import ACTION_CHUNK, HEAD_CAMERA, ROBOT_STATE, image_topic

    from .reader import decode, read_messages

    def stamp(msg) -> int:
        return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec

    state_t, state_p, cams = [], [], []
    for m in read_messages(session_bag, [ROBOT_STATE, image_topic(HEAD_CAMERA)]):
        msg = decode(m)
        if m.topic == ROBOT_STATE:
            p = msg.ee_pose.position
            state_t.append(stamp(msg)), state_p.append([p.x, p.y, p.z])
        else:
            cams.append(stamp(msg))
    order = np.argsort(state_t, kind="stable")
    chunks = [(stamp(c), c.dt, np.array([[p.position.x, p.position.y, p.position.z] for p in c.poses]))
              for c in (decode(m) for m in read_messages(replay_bag, [ACTION_CHUNK]))]
    return evaluate(chunks, np.asarray(state_t)[order], np.asarray(state_p)[order], cams, offset_ns)
