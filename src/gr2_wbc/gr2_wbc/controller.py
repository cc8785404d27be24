"""The whole-body controller core: chunk validation, reference switching, modes, the 200 Hz
step and its statistics. ROS-free; the node and the benchmark drive it with their clocks.

Control authority (WBC.md "Authority"): chunks move the arm only in IDLE, TRACKING and HOLDING.
/gr2/stop -> STOPPING (halt within the acceleration limit) -> STOPPED, which holds until
`resume` (the /gr2/resume service or a new instruction). A stale joint-state stream -> FAULT
(halt, then stand still); when measurements return the controller re-synchronises to them and
goes to STOPPED, never back into motion by itself. Chunks stamped before the last stop, fault or
resume, and chunks whose sequence goes backwards within one stream, are refused.

Threading: `submit_chunk` (subscriber thread) and `step` (control thread) may run
concurrently. The expensive trajectory optimisation runs outside the lock; the new
reference is installed to take over at `t_switch`, where it equals the old one in pose
and velocity, so the switch itself is continuous.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import pinocchio as pin

from gr2_contract import CONTROL_RATE_HZ, stamp_problem
from gr2_wbc.optimiser_process import OptimiserProcess
from gr2_wbc.robot_model import ModelConfig, RobotModel
from gr2_wbc.tracking_qp import TrackingConfig, TrackingQP
from gr2_wbc.trajectory import (
    ChunkData,
    ChunkRejected,
    HoldReference,
    Reference,
    ReferenceSample,
    TrajectoryConfig,
    TrajectoryOptimizer,
    braking_reference,
    naive_reference,
)


class Mode(IntEnum):
    """Same values as gr2_msgs/WbcStatus MODE_*."""
    IDLE = 0
    TRACKING = 1
    HOLDING = 2
    STOPPING = 3
    FAULT = 4
    STOPPED = 5      # halted by /gr2/stop or after a fault; holds until resume()


HALTED = (Mode.STOPPING, Mode.STOPPED, Mode.FAULT)   # modes in which no chunk is accepted


@dataclass
class ControllerConfig:
    """Everything the controller core is configured with: period and timeouts (s), limits, sub-configs."""
    period: float = 1.0 / CONTROL_RATE_HZ  # s (the contract's /gr2/joint_command rate; wbc.yaml `rate`)
    frame_id: str = "base_link"
    chunk_timeout: float = 1.0             # s after the newest chunk's stamp: stale -> brake and hold
    joint_state_timeout: float = 0.1       # s without a joint measurement -> reported late, tracking goes on
    joint_state_fault_timeout: float = 0.5  # s without one -> halt, FAULT (a stopped driver, not a late message)
    stop_time: float = 0.45                # s, /gr2/stop must be at rest within 0.5 s
    switch_lead: float = 0.01              # s between receiving a chunk and switching to it
    max_switch_lead: float = 0.25          # s, cap on the adaptive lead (one slow optimisation must
                                           # not push every later chunk into the past)
    future_stamp_tolerance: float = 0.5    # s, chunks and joint states stamped further in the future are refused
    max_reach: float = 1.5                 # m, poses farther from the base are rejected
    max_chunk_length: int = 1000
    resync_threshold: float = 0.2          # rad, commanded vs measured beyond this -> resync
    gripper_deadband: float = 1e-3
    naive_switching: bool = False          # baseline for the smoothness comparison only
    # Optimise chunks in a child process (optimiser_process.py: OSQP holds the GIL through its
    # solves, which stalls the control loop when they run in one of its threads).
    optimiser_process: bool = False
    optimiser_priority: int = 0            # SCHED_FIFO of that process (0: normal scheduling)
    stats_window: int = 2000
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)


@dataclass
class ControlOutput:
    """One control cycle's joint command (rad, rad/s), gripper command on change, mode, chunk tracked."""
    position: np.ndarray
    velocity: np.ndarray
    gripper: float | None        # new gripper command (on change), else None
    mode: Mode
    chunk: tuple[int, float] | None = None   # (sequence, observation stamp) of the chunk tracked


@dataclass
class StatusSnapshot:
    """The controller's statistics for /gr2/wbc/status: mode, cycle and QP times (s, percentiles
    over the last `stats_window` cycles), counters, manipulability, distances (m) and errors."""
    mode: Mode
    cycle_p50: float
    cycle_p99: float
    cycle_max: float
    qp_p50: float
    qp_p99: float
    deadline_misses: int
    cycles_without_reference: int
    cycles: int
    manipulability: float
    min_distance: float
    position_error: float
    orientation_error: float
    chunks_accepted: int
    chunks_rejected: int
    message: str


class _Window:
    def __init__(self, n: int):
        self.values: deque[float] = deque(maxlen=n)

    def add(self, v: float) -> None:
        self.values.append(v)

    def pct(self, p: float) -> float:
        return float(np.percentile(self.values, p)) if self.values else 0.0

    def max(self) -> float:
        return float(max(self.values)) if self.values else 0.0


class Controller:
    """The whole-body controller core (module docstring): `submit_chunk`, `update_measurement` and
    `step(now)` once per period; times are seconds on the caller's clock.

    `optimisation_clock` (s, monotonic) times a chunk's optimisation, which sets how far ahead the
    new chunk takes over (`switch_lead`, or twice the recent optimisation time). The node uses the
    wall clock; a lockstep evaluator passes a clock that stands still, so the lead is the
    configured `switch_lead` and the outcome does not depend on the machine's load."""

    def __init__(self, config: ControllerConfig | None = None, robot: RobotModel | None = None,
                 optimisation_clock: Callable[[], float] = time.perf_counter):
        self._opt_clock = optimisation_clock
        self.cfg = config or ControllerConfig()
        self.cfg.tracking.dt = self.cfg.period
        self.robot = robot or RobotModel.load(self.cfg.model)
        self.qp = TrackingQP(self.robot, self.cfg.tracking)
        self.optimizer = (OptimiserProcess(self.cfg.trajectory, self.cfg.optimiser_priority)
                          if self.cfg.optimiser_process else TrajectoryOptimizer(self.cfg.trajectory))
        self._lock = threading.Lock()
        self.mode = Mode.IDLE
        self.message = "waiting for joint states"
        self._halt_reason = ""
        self.q: np.ndarray | None = None      # commanded state (integrated), rad
        self.qd = np.zeros(7)
        self._old_ref: Reference | None = None
        self._ref: Reference | None = None
        self._t_switch = -np.inf
        self._generation = 0
        self._last_chunk_stamp = -np.inf
        self._last_chunk_seq: int | None = None
        self._stop_stamp = -np.inf            # chunks stamped at or before this are refused
        self._stop_cause = "/gr2/stop"
        self.optimise_time = 0.0          # s, moving average of the chunk optimisation time
        self._gripper_events: list[tuple[float, float]] = []
        self._gripper_sent: float | None = None
        self._halt: tuple[int, np.ndarray, float] | None = None   # (cycles done, qd0, duration)
        self._last_meas_time = -np.inf
        self.chunks_accepted = self.chunks_rejected = 0
        self.last_rejection = ""
        self.cycles = self.deadline_misses = self.cycles_without_reference = 0
        self.faults = 0                       # times joint states went stale
        self.delivery_stalls = 0              # late arrivals whose driver stamps were continuous
        self.driver_stalls = 0                # late arrivals after a gap in the driver's own stamps
        self._last_meas_stamp: float | None = None
        self.joint_states_refused = 0         # measurements ignored for their stamp (future, old, out of order)
        self._resync_from = -np.inf           # no resync check before this (a burst of late messages drains)
        self._cycle = _Window(self.cfg.stats_window)
        self._qp = _Window(self.cfg.stats_window)
        self.manipulability = 0.0
        self.min_distance = float("inf")
        self.position_error = self.orientation_error = 0.0
        self.last_qp_time = 0.0

    def close(self) -> None:
        """End the optimiser process, if there is one (idempotent)."""
        if isinstance(self.optimizer, OptimiserProcess):
            self.optimizer.close()

    # --- chunks ---------------------------------------------------------------------------
    def validate(self, chunk: ChunkData, now: float) -> None:
        """Raise ChunkRejected with the reason for anything the controller must not execute."""
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
        if chunk.stamp < self._last_chunk_stamp:
            raise ChunkRejected(f"non-monotonic stamps: chunk {chunk.sequence} is "
                                f"{self._last_chunk_stamp - chunk.stamp:.3f} s older than the executing one")
        # A sequence may start again only with a new stream: after a resume, or once the last
        # stream has gone stale (a restarted policy).
        if (self._last_chunk_seq is not None and chunk.sequence <= self._last_chunk_seq
                and now - self._last_chunk_stamp <= c.chunk_timeout):
            raise ChunkRejected(f"sequence went backwards: chunk {chunk.sequence} after {self._last_chunk_seq} "
                                f"(a dropped or replayed message, or a second publisher)")
        problem = stamp_problem(f"chunk {chunk.sequence}", chunk.stamp, now, c.chunk_timeout, c.future_stamp_tolerance)
        if problem:
            raise ChunkRejected(problem)
        if chunk.stamp <= self._stop_stamp:
            raise ChunkRejected(f"chunk predicts from an observation taken before the last {self._stop_cause}")
        norms = np.linalg.norm(chunk.quaternions, axis=1)
        if np.any(np.abs(norms - 1.0) > 1e-2):
            raise ChunkRejected(f"non-unit quaternion (norm {norms[np.argmax(np.abs(norms - 1))]:.3f})")
        if np.any(np.linalg.norm(chunk.positions, axis=1) > c.max_reach):
            raise ChunkRejected(f"pose farther than {c.max_reach} m from {c.frame_id}")
        if np.any((chunk.gripper < 0) | (chunk.gripper > 1)):
            raise ChunkRejected("gripper value outside 0..1")

    def submit_chunk(self, chunk: ChunkData, now: float) -> tuple[bool, str]:
        """Validate and optimise a chunk; returns (accepted, reason).

        If the executing reference changed while optimising (e.g. the previous chunk ran out
        and the arm started braking), the start state is stale: optimise once more from the
        new reference rather than dropping the chunk (which would leave the arm without one)."""
        t_call = self._opt_clock()
        try:
            for attempt in range(2):
                with self._lock:
                    now_here = now + (self._opt_clock() - t_call)
                    if self.mode in HALTED:
                        raise ChunkRejected(f"controller is {self.mode.name.lower()}: {self._halt_reason}")
                    if attempt == 0:
                        self.validate(chunk, now_here)
                    if self.q is None:
                        raise ChunkRejected("no joint state yet")
                    # Switch once the optimisation is surely done, so the new reference starts
                    # from the state the executing one really has then (no jump): the configured
                    # lead, or twice the recent optimisation time if that is longer.
                    lead = min(self.cfg.max_switch_lead, max(self.cfg.switch_lead, 2.0 * self.optimise_time))
                    t_switch = now_here + lead
                    start = self._sample(t_switch)
                    generation = self._generation
                t0 = self._opt_clock()
                if self.cfg.naive_switching:
                    ref = naive_reference(chunk, t_switch, start)
                else:
                    ref = self.optimizer.optimize(chunk, t_switch, start)
                elapsed = self._opt_clock() - t0
                self.optimise_time = elapsed if self.optimise_time == 0.0 else 0.8 * self.optimise_time + 0.2 * elapsed
                ref.chunk = (int(chunk.sequence), float(chunk.stamp))
                with self._lock:
                    if self.mode in HALTED:
                        raise ChunkRejected(f"controller is {self.mode.name.lower()}")
                    if generation != self._generation:
                        if attempt == 0:
                            continue
                        raise ChunkRejected("superseded twice while optimising (stop or newer chunk)")
                    self._install(ref, t_switch)
                    self._last_chunk_stamp = chunk.stamp
                    self._last_chunk_seq = chunk.sequence
                    times = chunk.times()
                    self._gripper_events = [(t, float(g)) for t, g in zip(times, chunk.gripper, strict=False)
                                            if t > t_switch]
                    self.mode = Mode.TRACKING
                    self.message = ""
                    self.chunks_accepted += 1
                return True, ""
        except ChunkRejected as err:
            with self._lock:
                self.chunks_rejected += 1
                self.last_rejection = self.message = str(err)
            return False, str(err)
        raise AssertionError("unreachable")

    def _install(self, ref: Reference, t_switch: float) -> None:
        self._old_ref, self._ref, self._t_switch = self._ref, ref, t_switch
        self._generation += 1

    def _active(self, t: float) -> Reference:
        return self._ref if (t >= self._t_switch or self._old_ref is None) else self._old_ref

    def _sample(self, t: float) -> ReferenceSample:
        return self._active(t).sample(t)

    # --- commands -------------------------------------------------------------------------
    def stop(self, now: float) -> str:
        """Smooth halt in joint space within stop_time, then STOPPED until `resume`. Chunks
        predicted from observations before this instant are rejected afterwards."""
        with self._lock:
            self._stop_stamp, self._stop_cause = now, "/gr2/stop"
            if self.q is None:
                return "no joint state yet; nothing to stop"
            if self.mode == Mode.FAULT:
                return "faulted: already halted; stays stopped after recovery"
            if self.mode in (Mode.STOPPING, Mode.STOPPED):
                return f"already {self.mode.name.lower()}"
            self._start_halt(now, Mode.STOPPING, "stop requested")
            return "stopping"

    def resume(self, now: float, why: str = "/gr2/resume") -> tuple[bool, str]:
        """Give chunks authority again (a new instruction or /gr2/resume); returns (ok, message).

        From STOPPED: chunks predicted from observations before `now` stay refused. In a mode
        that accepts chunks it only starts a new stream. Either way the sequence may start again.
        """
        with self._lock:
            if self.q is None:
                return False, "no joint state yet"
            if self.mode == Mode.FAULT:
                return False, f"faulted ({self._halt_reason}); waits for joint states"
            if self.mode == Mode.STOPPING:
                return False, "still stopping; resume once stopped"
            self._last_chunk_seq = None
            if self.mode != Mode.STOPPED:
                return True, "new chunk stream"
            self._stop_stamp, self._stop_cause = now, why
            self.mode, self.message = Mode.HOLDING, f"resumed by {why}: holding until a chunk arrives"
            return True, "resumed"

    def _start_halt(self, now: float, mode: Mode, message: str) -> None:
        amax = self.robot.acceleration_limit
        duration = float(np.clip(np.max(np.abs(self.qd) / amax), self.cfg.period, self.cfg.stop_time))
        # The ramp counts control cycles from the last command (qd), not wall time from the call:
        # each cycle integrates one nominal period, so each cycle takes exactly period/duration
        # of qd0 off, whenever the call came and however late a cycle woke up. Timed by the
        # clock, the first step (and any late cycle's) braked harder than the acceleration limit.
        self._halt = (0, self.qd.copy(), duration)
        self._gripper_events = []
        self._generation += 1
        self.mode, self.message = mode, message
        self._halt_reason = message   # kept apart from self.message, which rejections overwrite

    def _hold_here(self, now: float) -> None:
        pose = self.robot.forward(self.q)
        self._install(HoldReference(now, pose), -np.inf)
        self._old_ref = None

    # --- the cycle ------------------------------------------------------------------------
    def update_measurement(self, now: float, q: np.ndarray, stamp: float | None = None) -> tuple[bool, str | None]:
        """A joint measurement arrived at `now` (the controller's clock); `stamp` is when the driver
        measured it (its header stamp, on the same clock). Returns (used, note): the note describes
        it when it ends a silence longer than joint_state_timeout, telling a delivery stall (the
        driver's stamps go on without a gap: the messages were late) from a driver stall (its
        stamps stop too), or when the measurement is ignored: stamped in the future or older than
        joint_state_fault_timeout (`gr2_contract.stamp_problem`, the rule every stamped input
        follows), or stamped before the previous one (out of order). An ignored measurement counts
        in `joint_states_refused` and does not keep the stream alive."""
        with self._lock:
            c = self.cfg
            problem = None if stamp is None else stamp_problem(
                "joint state", stamp, now, c.joint_state_fault_timeout, c.future_stamp_tolerance)
            if problem is None and stamp is not None and self._last_meas_stamp is not None \
                    and stamp < self._last_meas_stamp:
                problem = (f"joint state stamped {(self._last_meas_stamp - stamp) * 1e3:.1f} ms before the "
                           f"previous one (out of order)")
            if problem is not None:
                self.joint_states_refused += 1
                return False, f"ignored: {problem}"
            silence = now - self._last_meas_time
            note = None
            if np.isfinite(silence) and silence > self.cfg.joint_state_timeout:
                if stamp is not None and self._last_meas_stamp is not None:
                    driver_gap = stamp - self._last_meas_stamp
                    late = driver_gap <= self.cfg.joint_state_timeout
                    self.delivery_stalls += late
                    self.driver_stalls += not late
                    note = (f"joint states resumed after {silence * 1e3:.0f} ms; the driver's stamps advanced "
                            f"{driver_gap * 1e3:.0f} ms: " + ("a delivery stall" if late else "the driver stalled"))
                else:
                    note = f"joint states resumed after {silence * 1e3:.0f} ms"
            if note is not None:
                self._resync_from = now + self.cfg.joint_state_timeout
            self._last_meas_time = now
            self._last_meas_stamp = stamp
            self._q_meas = np.asarray(q, dtype=float).copy()
            return True, note

    def step(self, now: float) -> ControlOutput | None:
        """One control cycle at time `now`; None when there is nothing to command (no joint
        state yet, or FAULT after its halt)."""
        t0 = time.perf_counter()
        with self._lock:
            out = self._step(now)
        self._cycle.add(time.perf_counter() - t0)
        return out

    def record_deadline_miss(self) -> None:
        self.deadline_misses += 1

    def _step(self, now: float) -> ControlOutput | None:
        cfg = self.cfg
        if not np.isfinite(self._last_meas_time):
            return None
        self.cycles += 1
        silence = now - self._last_meas_time
        stale = silence > cfg.joint_state_fault_timeout
        if self.q is None:
            self._restart_from_measurement()
            self._hold_here(now)
            self.mode, self.message = Mode.IDLE, "holding the measured configuration"
        if stale and self.mode not in (Mode.FAULT,):
            self._start_halt(now, Mode.FAULT, f"joint states stale (> {cfg.joint_state_fault_timeout * 1e3:.0f} ms)")
            self.faults += 1
        elif not stale and self.mode == Mode.FAULT and self._halt is None:
            # measurements are back: hold where the arm really is, and wait for an operator
            self._restart_from_measurement()
            self._hold_here(now)
            self._stop_stamp, self._stop_cause = now, "fault"
            self.mode = Mode.STOPPED
            self.message = self._halt_reason = (f"joint states recovered ({self.faults} stale episodes so far); "
                                                f"stopped until a new instruction or /gr2/resume")
        elif (silence <= cfg.joint_state_timeout and now >= self._resync_from
              and np.max(np.abs(self._q_meas - self.q)) > cfg.resync_threshold):
            # (only on fresh measurements: an old one says where the arm was, not where it is)
            self._restart_from_measurement()
            self._hold_here(now)
            if self.mode in (Mode.STOPPING, Mode.STOPPED):   # a stop stays a stop
                self._halt = None
                self.mode, self.message = Mode.STOPPED, "arm did not follow the halt; resynchronised, stopped"
            else:
                self.mode, self.message = Mode.HOLDING, "arm did not follow the command; resynchronised"

        if self._halt is not None:
            return self._halt_step(now)
        if self.mode == Mode.FAULT:
            # No trustworthy measurement and the halt is done: command nothing. A driver keeps
            # its last target; one that restarts meanwhile must not receive a target computed
            # for a state it is no longer in.
            return None
        if self.mode == Mode.STOPPED:
            # Stand still in joint space: no QP, so nothing (not even the collision dampers
            # pushing out of a margin) moves the arm until authority is given back.
            self.qd = np.zeros(7)
            return ControlOutput(self.q.copy(), self.qd.copy(), None, self.mode)

        if self.mode == Mode.TRACKING and now - self._last_chunk_stamp > cfg.chunk_timeout:
            self._install(braking_reference(now, self._sample(now), cfg.trajectory), now)
            self._old_ref = None
            self.mode, self.message = Mode.HOLDING, "action chunks stale: decelerated and holding"
        elif self.mode == Mode.TRACKING and now > self._ref.end_time:
            self.mode, self.message = Mode.HOLDING, "chunk finished: holding"
        if self.mode == Mode.HOLDING and self._last_chunk_stamp > self._stop_stamp:
            self.cycles_without_reference += 1   # a task was running and its chunks ran out

        active = self._active(now + cfg.period)
        ref = active.sample(now + cfg.period)   # the command is valid at the end of this cycle
        # Climbing manipulability moves the null space: only while tracking, so that holding
        # means the joints stand still.
        res = self.qp.solve(self.q, self.qd, ref.pose, ref.twist, secondary=self.mode == Mode.TRACKING)
        self._qp.add(res.solve_time)
        self.last_qp_time = res.solve_time
        self._advance(res.qd)
        self.manipulability, self.min_distance = res.manipulability, res.min_distance
        self.position_error, self.orientation_error = res.position_error, res.orientation_error
        chunk = active.chunk if self.mode == Mode.TRACKING else None
        return ControlOutput(self.q.copy(), self.qd.copy(), self._gripper(now), self.mode, chunk)

    # Every commanded position stays inside the URDF limits: the arm's driver refuses anything
    # else (the sim held its last valid command for the last 22 s of a bench-e2e run after a
    # FAULT halt, which ramps the velocity down without looking at the limits, carried joint_4
    # 1.7 mrad past its limit while the WBC went on commanding that position).
    def _advance(self, qd: np.ndarray) -> None:
        """Integrate one period at `qd`, stopping each joint at its position limit."""
        q = self.q + qd * self.cfg.period
        inside = np.clip(q, self.robot.lower, self.robot.upper)
        self.qd = np.where(inside == q, qd, (inside - self.q) / self.cfg.period)
        self.q = inside

    def _restart_from_measurement(self) -> None:
        self.q, self.qd = self.robot.clamp_to_limits(self._q_meas.copy()), np.zeros(7)

    def _halt_step(self, now: float) -> ControlOutput:
        done, qd0, duration = self._halt
        done += 1
        self._halt = (done, qd0, duration)
        frac = max(0.0, 1.0 - done * self.cfg.period / duration)
        self._advance(qd0 * frac)
        if frac == 0.0:
            self._halt = None
            self.qd = np.zeros(7)
            self._hold_here(now)
            if self.mode == Mode.STOPPING:
                self.mode = Mode.STOPPED
                self.message = self._halt_reason = (
                    "stopped by /gr2/stop; holding until a new instruction or /gr2/resume")
        return ControlOutput(self.q.copy(), self.qd.copy(), None, self.mode)

    def _gripper(self, now: float) -> float | None:
        due = [g for t, g in self._gripper_events if t <= now]
        if not due:
            return None
        self._gripper_events = [(t, g) for t, g in self._gripper_events if t > now]
        value = due[-1]
        if self._gripper_sent is None or abs(value - self._gripper_sent) > self.cfg.gripper_deadband:
            self._gripper_sent = value
            return value
        return None

    # --- monitoring -----------------------------------------------------------------------
    def measured_pose(self, q: np.ndarray) -> pin.SE3:
        with self._lock:
            return self.robot.forward(q)

    def planned_path(self, now: float, points: int = 50) -> np.ndarray:
        """TCP positions of the active reference from now to its end (for RViz)."""
        with self._lock:
            if self._ref is None:
                return np.zeros((0, 3))
            end = max(self._ref.end_time, now)
            return self._ref.positions(np.linspace(now, end, points))

    def status(self) -> StatusSnapshot:
        with self._lock:
            return StatusSnapshot(
                mode=self.mode, cycle_p50=self._cycle.pct(50), cycle_p99=self._cycle.pct(99),
                cycle_max=self._cycle.max(), qp_p50=self._qp.pct(50), qp_p99=self._qp.pct(99),
                deadline_misses=self.deadline_misses, cycles_without_reference=self.cycles_without_reference,
                cycles=self.cycles, manipulability=self.manipulability, min_distance=self.min_distance,
                position_error=self.position_error, orientation_error=self.orientation_error,
                chunks_accepted=self.chunks_accepted, chunks_rejected=self.chunks_rejected,
                message=self.message or self.last_rejection)
