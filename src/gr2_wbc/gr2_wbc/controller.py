"""The whole-body controller core: the façade that runs the 200 Hz step and takes chunks, stops
and measurements. ROS-free; the node and the benchmark drive it with their clocks.

Its parts, each in a module of its own: chunk checks (chunk_validation.ChunkValidator), modes,
the stop latch and the halt ramp (modes), the gripper command queue (gripper_queue), timing
statistics (statistics), the per-cycle tracking QP (tracking_qp) and the chunk trajectory
optimisation (trajectory, optimiser_process). The mode transitions run here, in `step`, because
they act on the state this class owns (commanded joints, references); modes.py says what the
modes mean.

Threading: `submit_chunk` (subscriber thread) and `step` (control thread) may run
concurrently. The expensive trajectory optimisation runs outside the lock; the new
reference is installed to take over at `t_switch`, where it equals the old one in pose
and velocity, so the switch itself is continuous.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pinocchio as pin

from gr2_contract import stamp_problem
from gr2_wbc.chunk_validation import ChunkValidator
from gr2_wbc.controller_config import ControllerConfig
from gr2_wbc.gripper_queue import GripperQueue
from gr2_wbc.modes import HALTED, NO_CHUNKS, TAKEOVER_FROM, HaltRamp, Mode, StopLatch
from gr2_wbc.optimiser_process import OptimiserProcess
from gr2_wbc.robot_model import RobotModel
from gr2_wbc.servo import ServoTarget
from gr2_wbc.statistics import RollingWindow, StatusSnapshot
from gr2_wbc.tracking_qp import TrackingQP
from gr2_wbc.trajectory import (
    ChunkData,
    ChunkRejected,
    HoldReference,
    Reference,
    ReferenceSample,
    TrajectoryOptimizer,
    braking_reference,
    naive_reference,
)

# Re-exported: the node, the evaluator and the tests import these from here.
__all__ = ["HALTED", "ControlOutput", "Controller", "ControllerConfig", "Mode", "StatusSnapshot"]


@dataclass
class ControlOutput:
    """One control cycle's joint command (rad, rad/s), gripper command on change, mode, chunk tracked."""
    position: np.ndarray
    velocity: np.ndarray
    gripper: float | None        # new gripper command (on change), else None
    mode: Mode
    chunk: tuple[int, float] | None = None   # (sequence, observation stamp) of the chunk tracked


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
        config = config or ControllerConfig()
        # The tracking QP integrates over the control period: a copy carries it, the caller's
        # config stays as given (the evaluator builds many controllers from one).
        self.cfg = dataclasses.replace(config, tracking=dataclasses.replace(config.tracking, dt=config.period))
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
        self.chunks = ChunkValidator(self.cfg)
        self.stop_latch = StopLatch()         # chunks stamped at or before it are refused
        self.optimise_time = 0.0          # s, moving average of the chunk optimisation time
        self.gripper = GripperQueue(self.cfg.gripper_deadband)
        self._halt: HaltRamp | None = None
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
        self._cycle = RollingWindow(self.cfg.stats_window)   # s, whole step
        self._qp = RollingWindow(self.cfg.stats_window)      # s, OSQP solve
        self._servo: ServoTarget | None = None   # the operator's moving target while TELEOP
        self.servo_ignored = 0                # servo commands that arrived while the operator had no control
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
        self.chunks.validate(chunk, now, self.stop_latch)

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
                    if self.mode == Mode.TELEOP:
                        raise ChunkRejected("the operator has control (teleop); chunks wait for the handback")
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
                    if self.mode in NO_CHUNKS:
                        raise ChunkRejected(f"controller is {self.mode.name.lower()}")
                    if generation != self._generation:
                        if attempt == 0:
                            continue
                        raise ChunkRejected("superseded twice while optimising (stop or newer chunk)")
                    self._install(ref, t_switch)
                    self.chunks.accept(chunk)
                    self.gripper.replace(chunk.times(), chunk.gripper, after=t_switch)
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
            self.stop_latch.latch(now, "/gr2/stop")
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
        An arm at rest (STOPPED, or holding with every joint commanded slower than `rest_speed`)
        is held where it is measured from here on, and the next gripper command goes out even if
        it repeats the last one sent: what was commanded before may no longer be where the robot
        is (a simulator reset moved it home and opened the gripper; so may hands on a robot in
        STOPPED), and the hold must not drive it back.
        """
        with self._lock:
            if self.q is None:
                return False, "no joint state yet"
            if self.mode == Mode.FAULT:
                return False, f"faulted ({self._halt_reason}); waits for joint states"
            if self.mode == Mode.STOPPING:
                return False, "still stopping; resume once stopped"
            if self.mode == Mode.TELEOP:
                return False, "the operator has control; chunks resume when it is handed back"
            self.chunks.new_stream()
            if self.mode == Mode.STOPPED or self._holding_at_rest(now):
                self._restart_from_measurement()
                self._hold_here(now)
                self.gripper.forget_sent()
            if self.mode != Mode.STOPPED:
                return True, "new chunk stream"
            self.stop_latch.latch(now, why)
            self.mode, self.message = Mode.HOLDING, f"resumed by {why}: holding until a chunk arrives"
            return True, "resumed"

    def _holding_at_rest(self, now: float) -> bool:
        return (self.mode in (Mode.IDLE, Mode.HOLDING) and self._halt is None
                and now >= self._active(now).end_time
                and float(np.max(np.abs(self.qd))) < self.cfg.rest_speed)

    # --- teleoperation (servo.py) ------------------------------------------------------------
    def take_control(self, now: float) -> tuple[bool, str]:
        """The operator takes control from the policy (or from STOPPED): TELEOP, chunks refused.

        The servo target starts at the pose and twist the arm is commanded to now (the
        controller's integrated joint state, which follows the measurement), so the tracking QP
        sees no error and no velocity step: the handover does not jump."""
        with self._lock:
            if self.q is None:
                return False, "no joint state yet"
            if self.mode == Mode.TELEOP:
                return True, "the operator already has control"
            if self.mode not in TAKEOVER_FROM:
                return False, f"controller is {self.mode.name.lower()} ({self._halt_reason}); take control once stopped"
            self._start_servo(now)
            self._generation += 1            # a chunk being optimised now is dropped
            self.gripper.clear()             # so are the policy's pending gripper commands
            self.mode, self.message = Mode.TELEOP, "the operator has control"
            return True, "the operator has control"

    def release_control(self, now: float) -> tuple[bool, str]:
        """The operator hands back: the target brakes to rest at the Cartesian limits, then
        HOLDING, and chunks are accepted again, from observations after `now` only (a plan made
        while the operator moved the arm must not move it)."""
        with self._lock:
            if self.mode != Mode.TELEOP:
                return False, f"the operator has no control (mode {self.mode.name.lower()})"
            self._install(braking_reference(now, self._servo.sample(), self.cfg.trajectory), now)
            self._old_ref = None
            self._servo = None
            self.stop_latch.latch(now, "operator handback")
            self.chunks.new_stream()
            self.mode, self.message = Mode.HOLDING, "handed back by the operator: holding until a chunk arrives"
            return True, "handed back to the policy"

    def servo_command(self, now: float, twist: np.ndarray, in_tcp_frame: bool = False,
                      stamp: float | None = None) -> tuple[bool, str]:
        """A servo twist (6: m/s, rad/s; base_link axes, or the TCP's with `in_tcp_frame`)
        arrived at `now`; `stamp` is its header stamp on the same clock (None or 0: unstamped, the
        arrival counts). Returns (used, reason). Only the operator's commands in TELEOP are used;
        one stamped older than the dead-man timeout does not keep the servo alive."""
        with self._lock:
            if self.mode != Mode.TELEOP:
                self.servo_ignored += 1
                return False, f"servo command ignored: the operator has no control (mode {self.mode.name.lower()})"
            twist = np.asarray(twist, dtype=float)
            if twist.shape != (6,) or not np.all(np.isfinite(twist)):
                return False, "servo command ignored: not 6 finite numbers"
            if stamp:
                problem = stamp_problem("servo command", stamp, now, self.cfg.servo.deadman_timeout,
                                        self.cfg.servo.future_stamp_tolerance)
                if problem:
                    return False, f"servo command ignored: {problem}"
            self._servo.set_command(now, twist, in_tcp_frame)
            return True, ""

    def servo_gripper(self, now: float, position: float) -> tuple[bool, str]:
        """The operator's gripper command (0 open .. 1 closed), sent at the next cycle in TELEOP."""
        with self._lock:
            if self.mode != Mode.TELEOP:
                return False, f"gripper command ignored: the operator has no control (mode {self.mode.name.lower()})"
            if not np.isfinite(position):
                return False, "gripper command ignored: not finite"
            self.gripper.replace([now], [float(np.clip(position, 0.0, 1.0))], after=-np.inf)
            return True, ""

    def _start_servo(self, now: float) -> None:
        self.robot.update(self.q)
        pose = self.robot.tcp_pose().copy()
        twist = self.robot.tcp_jacobian() @ self.qd
        self._servo = ServoTarget(now, pose, twist, self.cfg.trajectory, self.cfg.servo)

    def _servo_step(self, now: float) -> ReferenceSample:
        """The servo target at the end of this cycle, leashed to the commanded TCP pose."""
        servo = self._servo
        servo.advance(now, self.cfg.period)
        servo.leash(self.robot.forward(self.q))
        if servo.deadman_active and servo.commands:
            self.message = (f"dead man: no servo command for {now - servo.last_command:.2f} s "
                            f"(> {self.cfg.servo.deadman_timeout:.2f} s): decelerated and holding")
        elif self.message.startswith("dead man"):
            self.message = "the operator has control"
        return servo.sample()

    def _start_halt(self, now: float, mode: Mode, message: str) -> None:
        self._halt = HaltRamp.from_velocity(self.qd, self.robot.acceleration_limit, self.cfg.period,
                                            self.cfg.stop_time)
        self.gripper.clear()
        self._generation += 1
        self._servo = None                    # a halt ends a teleoperation session too
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
            self.stop_latch.latch(now, "fault")
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
            elif self.mode == Mode.TELEOP:   # the operator keeps control, from where the arm is
                self._start_servo(now)
                self.message = "arm did not follow the command; resynchronised, the operator has control"
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

        if self.mode == Mode.TELEOP:
            return self._track(now, self._servo_step(now), None, secondary=False)
        if self.mode == Mode.TRACKING and now - self.chunks.last_stamp > cfg.chunk_timeout:
            self._install(braking_reference(now, self._sample(now), cfg.trajectory), now)
            self._old_ref = None
            self.mode, self.message = Mode.HOLDING, "action chunks stale: decelerated and holding"
        elif self.mode == Mode.TRACKING and now > self._ref.end_time:
            self.mode, self.message = Mode.HOLDING, "chunk finished: holding"
        if self.mode == Mode.HOLDING and self.chunks.last_stamp > self.stop_latch.stamp:
            self.cycles_without_reference += 1   # a task was running and its chunks ran out

        active = self._active(now + cfg.period)
        ref = active.sample(now + cfg.period)   # the command is valid at the end of this cycle
        # Climbing manipulability moves the null space: only while tracking, so that holding
        # means the joints stand still.
        chunk = active.chunk if self.mode == Mode.TRACKING else None
        return self._track(now, ref, chunk, secondary=self.mode == Mode.TRACKING)

    def _track(self, now: float, ref: ReferenceSample, chunk: tuple[int, float] | None,
               secondary: bool) -> ControlOutput:
        """One tracking-QP step towards `ref` (a chunk's reference or the servo target): the same
        limits and collision barriers for both."""
        res = self.qp.solve(self.q, self.qd, ref.pose, ref.twist, secondary=secondary)
        self._qp.add(res.solve_time)
        self.last_qp_time = res.solve_time
        self._advance(res.qd)
        self.manipulability, self.min_distance = res.manipulability, res.min_distance
        self.position_error, self.orientation_error = res.position_error, res.orientation_error
        return ControlOutput(self.q.copy(), self.qd.copy(), self.gripper.due(now), self.mode, chunk)

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
        frac = self._halt.next_fraction(self.cfg.period)
        self._advance(self._halt.qd0 * frac)
        if frac == 0.0:
            self._halt = None
            self.qd = np.zeros(7)
            self._hold_here(now)
            if self.mode == Mode.STOPPING:
                self.mode = Mode.STOPPED
                self.message = self._halt_reason = (
                    "stopped by /gr2/stop; holding until a new instruction or /gr2/resume")
        return ControlOutput(self.q.copy(), self.qd.copy(), None, self.mode)

    # --- monitoring -----------------------------------------------------------------------
    def measured_pose(self, q: np.ndarray) -> pin.SE3:
        with self._lock:
            return self.robot.forward(q)

    def planned_path(self, now: float, points: int = 50) -> np.ndarray:
        """TCP positions of the active reference from now to its end (for RViz)."""
        with self._lock:
            if self._servo is not None:
                return self._servo.position[None, :].copy()
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
