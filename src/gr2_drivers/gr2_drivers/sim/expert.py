"""Scripted expert: follows a task's Cartesian waypoints with straight-line TCP motion,
damped-least-squares IK and joint position commands, in lockstep with the physics.

Stands in for the WBC inside the dataset generator (the WBC is the robot's real controller;
here a simple, deterministic IK keeps data generation self-contained and fast). ROS-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mujoco
import numpy as np

from .ik import solve_ik
from .tasks import Waypoint, tcp_rotation


@dataclass
class ExpertConfig:
    """Control period (s), TCP speeds (m/s, rad/s), final settling time and episode time limit (s)."""
    control_dt: float = 0.02      # s between joint targets (50 Hz)
    speed: float = 0.30           # m/s, TCP straight-line speed
    yaw_speed: float = 2.0        # rad/s
    settle: float = 0.3           # s waited at the end before judging success
    max_time: float = 25.0        # s, episode time limit


@dataclass
class StepTarget:
    """What the expert commands in one control step (the Cartesian action of the dataset): TCP
    position (base_link, m), yaw and tilt (rad, `tasks.tcp_rotation`), gripper (0 open .. 1 closed)."""
    pos: np.ndarray
    yaw: float
    gripper: float
    tilt: float = 0.0


def interpolate(start: StepTarget, waypoints: list[Waypoint], cfg: ExpertConfig):
    """Per-control-step targets: straight lines at `speed`, then each waypoint's dwell."""
    current = start
    for wp in waypoints:
        dist = float(np.linalg.norm(wp.pos - current.pos))
        dyaw = wp.yaw - current.yaw
        dtilt = wp.tilt - current.tilt
        speed = wp.speed or cfg.speed
        # Tilt turns at the yaw speed; a plan without tilt gets the same step count as before.
        n = max(1, int(np.ceil(max(dist / speed, abs(dyaw) / cfg.yaw_speed, abs(dtilt) / cfg.yaw_speed)
                               / cfg.control_dt)))
        for i in range(1, n + 1):
            a = i / n
            yield StepTarget(current.pos + a * (wp.pos - current.pos), current.yaw + a * dyaw,
                             wp.gripper, current.tilt + a * dtilt)
        current = StepTarget(np.array(wp.pos, dtype=float), wp.yaw, wp.gripper, wp.tilt)
        for _ in range(int(round(wp.dwell / cfg.control_dt))):
            yield current
    for _ in range(int(round(cfg.settle / cfg.control_dt))):
        yield current


@dataclass
class DartNoise:
    """Noise injected into the executed TCP target (DART, Laskey et al. 2017): temporally
    correlated (first-order low-pass of white noise, time constant `tau`) so the arm really drifts
    off the plan, with stationary standard deviation `sigma` per axis (m) and `yaw_sigma` (rad).
    The recorded label stays the clean plan, which points back to it from wherever the arm is."""
    sigma: float = 0.0
    yaw_sigma: float = 0.0
    tau: float = 0.3
    control_dt: float = 0.02

    def __post_init__(self):
        self.state = np.zeros(4)

    def reset(self, rng: np.random.Generator) -> None:
        self.rng, self.state = rng, np.zeros(4)

    def __call__(self, target: StepTarget) -> StepTarget:
        a = float(np.exp(-self.control_dt / self.tau))
        scale = np.array([self.sigma] * 3 + [self.yaw_sigma])
        self.state = a * self.state + np.sqrt(1.0 - a * a) * scale * self.rng.standard_normal(4)
        pos = target.pos + self.state[:3]
        pos[2] = max(pos[2], target.pos[2])   # never pushed below the plan (into the table or cube)
        return StepTarget(pos, target.yaw + self.state[3], target.gripper, target.tilt)


class ScriptedExpert:
    """Runs the task plan of `world`'s current task with IK and joint commands (module docstring)."""

    def __init__(self, world, config: ExpertConfig | None = None):
        self.world = world
        self.cfg = config or ExpertConfig()
        self.scratch = mujoco.MjData(world.model)

    def _current(self, gripper: float) -> StepTarget:
        """The TCP as it is now (position, yaw) with `gripper`: where a plan starts."""
        w = self.world
        pos, _ = w.ee_pose()
        rot = w.data.site_xmat[w.tcp_site].reshape(3, 3)
        yaw = float(np.arctan2(-rot[0, 0], rot[1, 0]))  # inverse of tasks.tcp_rotation
        return StepTarget(pos, yaw, gripper)

    def targets(self):
        w = self.world
        # Tilt starts at 0: episodes start at home, pointing down. (Relabelling assumes the same:
        # only tasks that never tilt have a state-feedback expert.)
        return interpolate(self._current(w.gripper_position()), w.task.expert(w), self.cfg)

    def relabel(self, gripper_command: float) -> StepTarget:
        """The expert's target one control step from the CURRENT state (`Task.replan`): the label
        DAgger gives a state the policy visited. Raises NotImplementedError for tasks without a
        state-feedback expert."""
        w = self.world
        return next(iter(interpolate(self._current(gripper_command), w.task.replan(w, gripper_command), self.cfg)))

    def relabel_chunk(self, gripper_command: float, k: int, spacing: float) -> list[StepTarget]:
        """The expert's plan from the CURRENT state as k targets `spacing` s apart, the first one
        being `relabel`'s (a plan that ends sooner repeats its last target): the label of a visited
        state for a policy that predicts k-step chunks (gr2_contract.episode, CHUNK_STREAMS).
        Raises NotImplementedError for tasks without a state-feedback expert."""
        w = self.world
        plan = list(interpolate(self._current(gripper_command), w.task.replan(w, gripper_command), self.cfg))
        stride = max(1, int(round(spacing / self.cfg.control_dt)))
        return [plan[min(j * stride, len(plan) - 1)] for j in range(k)]

    def run(self, on_step: Callable[[StepTarget], None] | None = None,
            perturb: Callable[[StepTarget], StepTarget] | None = None) -> bool:
        """Execute the task's plan; `on_step(target)` is called before each control step
        (observation taken there) with the clean target. `perturb` maps it to the target that is
        executed instead (DART noise injection: the robot drifts off the plan, the label stays the
        plan). Returns the task's success at the end."""
        w = self.world
        n_phys = max(1, int(round(self.cfg.control_dt / w.model.opt.timestep)))
        q_prev = w.joint_positions()
        for k, target in enumerate(self.targets()):
            if k * self.cfg.control_dt > self.cfg.max_time:
                break
            if on_step is not None:
                on_step(target)
            if perturb is not None:
                target = perturb(target)
            q, _ = solve_ik(w.model, w.tcp_site, w.arm_qpos, w.arm_dof, q_prev, target.pos,
                            tcp_rotation(target.yaw, target.tilt), w.lower, w.upper, iters=50, scratch=self.scratch)
            qd = np.clip((q - q_prev) / self.cfg.control_dt, -w.velocity_limit, w.velocity_limit)
            w.set_joint_command(q, qd)
            w.set_gripper(float(np.clip(target.gripper, 0.0, 1.0)))
            w.step(n_phys)
            q_prev = q
        return w.success()
