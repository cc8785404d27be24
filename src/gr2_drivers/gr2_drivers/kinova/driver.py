"""The Gen3 cyclic state machine: servo, hold through drops, reconnect with backoff, faults.

`KinovaDriver.step(now)` runs one servo cycle; the node calls it at the cycle rate from its
own thread, the tests call it with a made-up clock. Where users of ros2_kortex suffer (one
late UDP packet or a RefreshFeedback timeout kills the controller) this driver counts the
drop, keeps the last setpoint, and only after `reconnect_after_drops` consecutive failures
leaves low-level servoing, drops the sessions and reconnects with exponential backoff.
An arm fault stops servoing until a clear-faults request; it never restarts by itself.
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass, field

import numpy as np

from gr2_contract import angle_difference, unwrap_near
from gr2_description.joint_limits import JointLimit
from gr2_drivers.kinova import units
from gr2_drivers.kinova.arm import ArmConnectionConfig, ArmFeedback, KinovaArm
from gr2_drivers.kinova.interpolation import CommandInterpolator, InterpolationConfig


class DriverState(enum.Enum):
    """Where the driver's state machine is: no link yet, servoing, arm fault, reconnecting, stopped."""
    DISCONNECTED = "disconnected"
    SERVOING = "servoing"
    FAULT = "fault"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass(frozen=True)
class DriverConfig:
    """Servo cycle rate (Hz), drop and reconnect policy, and the limits applied to joint commands."""
    connection: ArmConnectionConfig = ArmConnectionConfig()
    interpolation: InterpolationConfig = InterpolationConfig()
    cycle_rate_hz: float = 1000.0
    reconnect_after_drops: int = 100          # consecutive failed cycles before a reconnect
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    velocity_scale: float = 1.0               # fraction of the URDF joint speed the setpoint may move
    max_command_deviation: float = 0.3        # rad from the measured position; farther commands are refused


@dataclass
class GripperTarget:
    """The gripper command being held: position, speed and force, each a 0..1 fraction."""
    position: float = 0.0   # 0 open .. 1 closed
    speed: float = 0.5
    force: float = 0.5


@dataclass
class DriverStatus:
    """Counters and the last errors of the driver, for /diagnostics."""
    state: DriverState = DriverState.DISCONNECTED
    cycles: int = 0
    drops_total: int = 0
    drops_consecutive: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    commands_accepted: int = 0
    commands_rejected: int = 0
    last_error: str = ""
    last_rejection: str = ""
    next_attempt_in_s: float = 0.0
    arm_state: int | None = None
    fault_bank_a: int = 0
    fault_bank_b: int = 0


@dataclass
class JointSample:
    """A feedback sample in REP-103 units, ready for /joint_states."""
    names: list[str]
    position: list[float]
    velocity: list[float]
    effort: list[float]
    stamp_monotonic: float = field(default=0.0)


class CommandRejected(ValueError):
    """A joint command that the driver refuses (the last valid one keeps being held)."""


class KinovaDriver:
    """The Gen3 + 2F-85 servo state machine (module docstring); `step(now)` runs one cycle.

    Joint commands are validated against the URDF `limits` (rad, rad/s) and held between cycles.
    """

    def __init__(self, arm: KinovaArm, limits: dict[str, JointLimit], joint_names: tuple[str, ...],
                 gripper_joint: str, config: DriverConfig = DriverConfig()):
        self.arm = arm
        self.config = config
        self.joint_names = tuple(joint_names)
        self.gripper_joint = gripper_joint
        # the 2F-85's stroke as a joint angle: the URDF's closed position of its finger joint
        self.gripper_stroke_rad = limits[gripper_joint].upper
        self.limits = [limits[n] for n in self.joint_names]
        self.continuous = [lim.continuous for lim in self.limits]
        self.max_speed = np.array([lim.velocity * config.velocity_scale for lim in self.limits])
        self.status = DriverStatus()
        self.interpolator = CommandInterpolator(len(self.joint_names), config.interpolation)
        self._lock = threading.Lock()
        self._pending_command: tuple[np.ndarray, np.ndarray] | None = None
        self._gripper = GripperTarget()
        self._gripper_initialised = False
        self._clear_faults_requested = False
        self._setpoint: np.ndarray | None = None     # rad, unwrapped, last value sent
        self._measured: list[float] | None = None    # rad, unwrapped
        self._backoff = config.backoff_initial_s
        self._next_attempt = 0.0
        self._last_cycle_t: float | None = None
        self.latest: JointSample | None = None

    # -- inputs (any thread) ----------------------------------------------------------------
    def submit_joint_command(self, names: list[str], position: list[float], velocity: list[float]) -> None:
        """Validate a /gr2/joint_command; raise CommandRejected and keep the old one if bad."""
        try:
            q, v = self._validate(names, position, velocity)
        except CommandRejected as exc:
            with self._lock:
                self.status.commands_rejected += 1
                self.status.last_rejection = str(exc)
            raise
        with self._lock:
            self._pending_command = (q, v)
            self.status.commands_accepted += 1

    def submit_gripper_command(self, position: float, speed: float, force: float) -> None:
        values = (position, speed, force)
        if not all(math.isfinite(x) for x in values) or not all(0.0 <= x <= 1.0 for x in values):
            raise CommandRejected(f"gripper command {values} outside 0..1 (position, speed, force)")
        with self._lock:
            self._gripper = GripperTarget(float(position), float(speed), float(force))
            self._gripper_initialised = True

    def request_clear_faults(self) -> None:
        with self._lock:
            self._clear_faults_requested = True

    def _validate(self, names, position, velocity) -> tuple[np.ndarray, np.ndarray]:
        if list(names) != list(self.joint_names):
            if sorted(names) != sorted(self.joint_names):
                raise CommandRejected(f"joint names {list(names)} are not {list(self.joint_names)}")
        if len(position) != len(names) or (len(velocity) not in (0, len(names))):
            raise CommandRejected(f"{len(names)} names but {len(position)} positions and {len(velocity)} velocities")
        order = [list(names).index(n) for n in self.joint_names]
        q = np.array([position[i] for i in order], dtype=float)
        v = np.array([velocity[i] for i in order], dtype=float) if len(velocity) else np.zeros(len(q))
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
            raise CommandRejected("joint command contains NaN or inf")
        for name, lim, value in zip(self.joint_names, self.limits, q, strict=False):
            if not lim.continuous and not (lim.lower <= value <= lim.upper):
                raise CommandRejected(f"{name}={value:.4f} rad outside its limits [{lim.lower}, {lim.upper}]")
        with self._lock:
            measured = self._measured
        if measured is not None:   # a target meant for another state (e.g. sent before a reconnect)
            deviation = np.abs(angle_difference(q, np.asarray(measured[:len(q)]), self.continuous))
            if deviation.max() > self.config.max_command_deviation:
                i = int(np.argmax(deviation))
                raise CommandRejected(f"{self.joint_names[i]} commanded {deviation[i]:.3f} rad from its measured "
                                      f"position (max_command_deviation {self.config.max_command_deviation})")
        return q, v

    # -- the cycle (driver thread) --------------------------------------------------------------
    def step(self, now: float) -> JointSample | None:
        """One servo cycle at monotonic time `now`; returns fresh feedback or None (held/no link)."""
        state = self.status.state
        if state in (DriverState.DISCONNECTED, DriverState.RECONNECTING):
            if now >= self._next_attempt:
                self._try_connect(now)
            return None
        if state == DriverState.FAULT:
            return self._step_fault(now)
        if state == DriverState.SERVOING:
            return self._step_servo(now)
        return None

    def _try_connect(self, now: float) -> None:
        try:
            self.arm.connect()
            feedback = self.arm.start_low_level()
        except Exception as exc:  # noqa: BLE001 - any failure here means "try again later"
            self.status.connect_failures += 1
            self.status.last_error = f"connect to {self.arm.config.robot_ip}: {exc!r}"
            self._safe_leave()
            self._schedule_retry(now)
            return
        if self.status.state == DriverState.RECONNECTING:
            self.status.reconnects += 1
        self._backoff = self.config.backoff_initial_s
        self.status.next_attempt_in_s = 0.0
        self.status.drops_consecutive = 0
        self._begin_servo(feedback, now)

    def _begin_servo(self, feedback: ArmFeedback, now: float) -> None:
        """Hold exactly where the arm is; old commands are forgotten. The last published angles
        stay the unwrapping reference (after a reconnect or a fault clear too): a continuous
        joint's reading continues in the branch it was published in, never 2*pi away."""
        sample = self._publishable(feedback, now)
        self._setpoint = np.array(sample.position[: len(self.joint_names)])
        self._last_cycle_t = now
        self.interpolator.reset(self._setpoint, now)
        with self._lock:
            self._pending_command = None
            if not self._gripper_initialised and feedback.gripper_percent is not None:
                self._gripper.position = units.percent_to_fraction(feedback.gripper_percent)
        self.status.state = DriverState.SERVOING
        self.latest = sample

    def _schedule_retry(self, now: float) -> None:
        self._next_attempt = now + self._backoff
        self.status.next_attempt_in_s = self._backoff
        self._backoff = min(self._backoff * 2.0, self.config.backoff_max_s)
        if self.status.state != DriverState.DISCONNECTED:
            self.status.state = DriverState.RECONNECTING

    def _safe_leave(self) -> None:
        try:
            if self.arm.servoing:
                self.arm.stop_low_level()
        except Exception:  # noqa: BLE001 - the link may be gone; the arm times out by itself
            pass
        self.arm.disconnect()

    def _step_servo(self, now: float) -> JointSample | None:
        with self._lock:
            pending, self._pending_command = self._pending_command, None
            gripper = GripperTarget(self._gripper.position, self._gripper.speed, self._gripper.force)
        if pending is not None:
            # continuous joints: the target in the setpoint's branch, so the interpolation between
            # them never sweeps through the other angles of a 2*pi difference
            target = np.where(self.continuous, unwrap_near(pending[0], self._setpoint), pending[0])
            self.interpolator.set_target(target, pending[1], now)
        q_target, v_target = self.interpolator.sample(now)
        # Bound the setpoint's speed: a jump in the command cannot slam the arm. The step uses the
        # real time since the last cycle (a slow loop still tracks at full speed), capped at two
        # nominal periods so a stalled loop cannot release one large step.
        nominal = 1.0 / self.config.cycle_rate_hz
        dt = nominal if self._last_cycle_t is None else min(max(now - self._last_cycle_t, 0.0), 2.0 * nominal)
        self._last_cycle_t = now
        max_step = self.max_speed * dt
        # the shortest way round on continuous joints (a target in another 2*pi branch is the same pose)
        q = self._setpoint + np.clip(angle_difference(q_target, self._setpoint, self.continuous), -max_step, max_step)
        v = np.clip(v_target, -self.max_speed, self.max_speed)
        try:
            feedback = self.arm.cycle(
                [units.rad_to_kinova_deg(x) for x in q], [math.degrees(x) for x in v],
                units.fraction_to_percent(gripper.position), units.fraction_to_percent(gripper.speed),
                units.fraction_to_percent(gripper.force))
        except Exception as exc:  # noqa: BLE001 - a timeout or a dropped datagram: count and hold
            return self._on_drop(exc, now)
        self._setpoint = q
        self.status.cycles += 1
        self.status.drops_consecutive = 0
        self._note_arm_state(feedback)
        sample = self._publishable(feedback, now)
        if feedback.in_fault:
            self._enter_fault(now, "the arm reports ARMSTATE_IN_FAULT")
        self.latest = sample
        return sample

    def _on_drop(self, exc: Exception, now: float) -> None:
        self.status.drops_total += 1
        self.status.drops_consecutive += 1
        self.status.last_error = f"cycle failed: {exc!r}"
        if self.status.drops_consecutive >= self.config.reconnect_after_drops:
            self.status.last_error = (f"{self.status.drops_consecutive} consecutive cycles failed "
                                      f"(last: {exc!r}); reconnecting")
            self._safe_leave()
            self.status.state = DriverState.RECONNECTING
            self._schedule_retry(now)
        return None

    def _enter_fault(self, now: float, why: str) -> None:
        self.status.state = DriverState.FAULT
        self.status.last_error = why
        try:
            self.arm.stop_low_level()
        except Exception:  # noqa: BLE001 - the fault path must not throw
            pass

    def _step_fault(self, now: float) -> JointSample | None:
        with self._lock:
            clear, self._clear_faults_requested = self._clear_faults_requested, False
        try:
            if clear:
                self.arm.clear_faults()
                feedback = self.arm.start_low_level()
                self._note_arm_state(feedback)
                self.status.last_error = ""
                self._begin_servo(feedback, now)
                return self.latest
            feedback = self.arm.read_feedback()
        except Exception as exc:  # noqa: BLE001
            self.status.drops_total += 1
            self.status.last_error = f"in fault, feedback failed: {exc!r}"
            return None
        self._note_arm_state(feedback)
        self.latest = self._publishable(feedback, now)
        return self.latest

    def _note_arm_state(self, feedback: ArmFeedback) -> None:
        self.status.arm_state = feedback.arm_state
        self.status.fault_bank_a = feedback.fault_bank_a
        self.status.fault_bank_b = feedback.fault_bank_b

    def _publishable(self, feedback: ArmFeedback, now: float) -> JointSample:
        position = units.feedback_to_radians(feedback.positions_deg, self.continuous, self._measured)
        self._measured = position
        velocity = [math.radians(x) for x in feedback.velocities_deg_s]
        effort = list(feedback.torques_nm)
        names = list(self.joint_names)
        if feedback.gripper_percent is not None:
            names.append(self.gripper_joint)
            position = position + [units.gripper_percent_to_joint(feedback.gripper_percent,
                                                                   self.gripper_stroke_rad)]
            velocity = velocity + [0.0]
            effort = effort + [0.0]
        return JointSample(names, position, velocity, effort, now)

    # -- shutdown ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Leave low-level servoing and close the sessions (safe to call in any state, twice)."""
        if self.status.state == DriverState.STOPPED:
            return
        self._safe_leave()
        self.status.state = DriverState.STOPPED
