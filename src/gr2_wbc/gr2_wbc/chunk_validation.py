"""Which action chunks the controller may execute. ROS-free.

A chunk is refused for its content (empty, too long, wrong frame, mismatched lengths, NaN/inf,
non-positive dt, non-unit quaternions, poses out of reach, gripper values outside 0..1) and for
its place in the stream: stamped before the executing chunk, a sequence number that goes
backwards within one stream, a stamp too old or in the future, or predicted from an observation
taken before the last stop, fault or resume (`StopLatch`).
"""

from __future__ import annotations

import numpy as np

from gr2_contract import stamp_problem
from gr2_wbc.controller_config import ControllerConfig
from gr2_wbc.modes import StopLatch
from gr2_wbc.trajectory import ChunkData, ChunkRejected


class ChunkValidator:
    """Checks chunks against the config and the stream accepted so far. `last_stamp` (s, the
    observation stamp of the executing chunk) and `last_sequence` describe that stream; `accept`
    advances it, `new_stream` lets the sequence start again (a resume or a new instruction)."""

    def __init__(self, config: ControllerConfig):
        self.cfg = config
        self.last_stamp = -np.inf
        self.last_sequence: int | None = None

    def accept(self, chunk: ChunkData) -> None:
        """`chunk` is now the executing one."""
        self.last_stamp = chunk.stamp
        self.last_sequence = chunk.sequence

    def new_stream(self) -> None:
        self.last_sequence = None

    def validate(self, chunk: ChunkData, now: float, stop: StopLatch) -> None:
        """Raise ChunkRejected with the reason for anything the controller must not execute;
        `now` is the controller's clock (s)."""
        c = self.cfg
        k = len(chunk.positions)
        if k == 0:
            raise ChunkRejected("empty chunk (no poses)")
        if k > c.max_chunk_length:
            raise ChunkRejected(f"chunk has {k} poses, more than max_chunk_length {c.max_chunk_length}")
        if chunk.frame_id != c.frame_id:
            raise ChunkRejected(f"chunk frame '{chunk.frame_id}' is not '{c.frame_id}'")
        if len(chunk.gripper) != k or len(chunk.quaternions) != k:
            raise ChunkRejected(f"length mismatch: {k} poses, {len(chunk.quaternions)} orientations, "
                                f"{len(chunk.gripper)} gripper values")
        for name, arr in (("positions", chunk.positions), ("orientations", chunk.quaternions),
                          ("gripper", chunk.gripper), ("dt", chunk.dt), ("stamp", chunk.stamp)):
            if not np.all(np.isfinite(np.asarray(arr, dtype=float))):
                raise ChunkRejected(f"NaN/inf in {name}")
        if not chunk.dt > 0:
            raise ChunkRejected(f"non-monotonic pose times: dt = {chunk.dt} (must be > 0)")
        if chunk.stamp < self.last_stamp:
            raise ChunkRejected(f"non-monotonic stamps: chunk {chunk.sequence} is "
                                f"{self.last_stamp - chunk.stamp:.3f} s older than the executing one")
        # A sequence may start again only with a new stream: after a resume, or once the last
        # stream has gone stale (a restarted policy).
        if (self.last_sequence is not None and chunk.sequence <= self.last_sequence
                and now - self.last_stamp <= c.chunk_timeout):
            raise ChunkRejected(f"sequence went backwards: chunk {chunk.sequence} after {self.last_sequence} "
                                f"(a dropped or replayed message, or a second publisher)")
        problem = stamp_problem(f"chunk {chunk.sequence}", chunk.stamp, now, c.chunk_timeout, c.future_stamp_tolerance)
        if problem:
            raise ChunkRejected(problem)
        if stop.refuses(chunk.stamp):
            raise ChunkRejected(f"chunk predicts from an observation taken before the last {stop.cause}")
        norms = np.linalg.norm(chunk.quaternions, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-2):
            raise ChunkRejected(f"non-unit quaternion (norm {norms[np.argmax(np.abs(norms - 1))]:.3f})")
        if np.any(np.linalg.norm(chunk.positions, axis=1) > c.max_reach):
            raise ChunkRejected(f"pose farther than {c.max_reach} m from {c.frame_id}")
        if np.any((chunk.gripper < 0) | (chunk.gripper > 1)):
            raise ChunkRejected("gripper value outside 0..1")
