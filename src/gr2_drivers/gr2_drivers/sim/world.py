"""The simulated robot cell: Gen3 + 2F-85 on a table, a head camera and a wrist camera.

ROS-free core used by the sim node (real time), the dataset generator and the tests
(lockstep). Joint commands go to position servos with velocity feed-forward and gravity
compensation; rendering is offscreen (MUJOCO_GL=egl) with shadows and reflections off,
which is what makes 224x224 frames cheap enough on a CPU.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import yaml

from gr2_contract import HEAD_CAMERA, WRIST_CAMERA
from gr2_description.robot import RobotDescription, load_robot_description

from .model_builder import (
    GRIPPER_ACTUATOR,
    GRIPPER_CTRL_MAX,
    GRIPPER_DRIVER_JOINT,
    ROBOT_BIT,
    SCENE_BIT,
    TCP_SITE,
    ArmServoConfig,
    CameraSpec,
    build_robot_spec,
)


@dataclass
class SimConfig:
    """Physics step (s), arm servo gains, cameras and scene settings of the simulated robot."""
    timestep: float = 0.002
    servo: ArmServoConfig = field(default_factory=ArmServoConfig)
    cameras: list[CameraSpec] = field(default_factory=lambda: [
        CameraSpec(HEAD_CAMERA, "world", (0.95, 0.0, 0.70), (0.48, 0.0, 0.0), fovy_deg=42.0),
        CameraSpec(WRIST_CAMERA, "end_effector_link", (0.0, -0.085, 0.02), (0.0, 0.0, 0.22),
                   up=(0.0, -1.0, 0.0), fovy_deg=70.0),
    ])
    settle_time: float = 0.3         # s simulated after laying out a task, before the episode starts
    table_rgba: tuple[float, float, float, float] = (0.55, 0.45, 0.35, 1.0)
    max_render_size: tuple[int, int] = (640, 480)
    # Robot bodies not checked against the environment (EnvironmentClearance): the base stands on the
    # table and the shoulder sits on the base, as in the WBC's ModelConfig.obstacle_exempt_links.
    clearance_exempt_bodies: tuple[str, ...] = ("base_link", "shoulder_link")


def load_sim_config(path: Path | str | None = None) -> SimConfig:
    """SimConfig from the `/**: ros__parameters:` block of config/sim.yaml (the node's file), so
    that generated data sees the cameras where the sim node puts them."""
    if path is None:
        from gr2_contract.config import config_dir
        path = config_dir() / "sim.yaml"
    params = yaml.safe_load(Path(path).read_text())["/**"]["ros__parameters"]
    return sim_config_from_params(params)


def sim_config_from_params(params: dict) -> SimConfig:
    """Camera poses and physics settings from flat ROS-style parameters (`head_camera.pos`, ...)."""
    cfg = SimConfig()
    cfg.timestep = float(params.get("timestep", cfg.timestep))
    cameras = []
    for cam in cfg.cameras:
        prefix = cam.name + "."
        cameras.append(CameraSpec(
            name=cam.name, parent=params.get(prefix + "parent", cam.parent),
            pos=tuple(params.get(prefix + "pos", cam.pos)),
            lookat=tuple(params.get(prefix + "lookat", cam.lookat)),
            up=tuple(params.get(prefix + "up", cam.up)),
            fovy_deg=float(params.get(prefix + "fovy_deg", cam.fovy_deg))))
    cfg.cameras = cameras
    return cfg


@dataclass
class Clearance:
    """Closest approach of the robot to the static environment, from MuJoCo's geometry."""
    distance: float                  # m, signed: < 0 is the penetration depth of the closest pair
    robot_geom: str                  # geom name, or its body name where the geom has none
    environment_geom: str
    robot_point: np.ndarray          # witness points in the world frame (= base_link)
    environment_point: np.ndarray
    in_contact: bool                 # MuJoCo had a contact between a checked pair, or distance <= 0
    steps: int = 0                   # physics steps aggregated (0: one state, no step)


class EnvironmentClearance:
    """Signed distance between the robot's colliding geoms and the static environment geoms.

    Robot geoms: every geom that takes part in collisions on a body of the robot's kinematic
    tree (arm links and the attached gripper), except those on `exempt_bodies`. Environment
    geoms: geoms on bodies welded to the world (not mocap) that MuJoCo would collide with at
    least one robot geom (contype/conaffinity, body excludes): table top, floor, task fixtures.
    Free objects and jointed fixtures (drawer, button caps) are not environment. Distances come
    from mj_geomDistance, i.e. the geometry MuJoCo computes contacts with (convex hulls of
    meshes, exact primitives).

    `measure` is the exact minimum over all pairs: a lower bound for every pair (the robot
    geom's bounding sphere against the environment geom's oriented bounding box, a plane being
    a half-space box), then exact distances in increasing lower-bound order until the next lower
    bound is no smaller than the best exact distance (one to a few narrow-phase calls).

    `update` gives the same exact minimum every physics step at a fraction of the cost, from
    coherence between steps: after a full `measure` it keeps the pairs whose lower bound lay
    within 2 `slack` of the minimum and from then on computes only those, as long as no robot
    geom's bounding sphere has moved more than `slack` (each other pair's lower bound can only
    have dropped by that much, so it stays above the minimum + slack) and the kept pairs' minimum
    has not risen by more than `slack`; otherwise it measures in full again.
    """

    DISTMAX = 100.0       # m; every environment geom of the cell is nearer than this
    _HALF_SPACE = 1.0e3   # m, half size of the box standing in for a plane (MuJoCo planes are infinite)

    def __init__(self, model: mujoco.MjModel, robot_root_body: str, exempt_bodies=(), slack: float = 0.02):
        m = self.model = model
        root = m.body(robot_root_body).id
        exempt = {m.body(name).id for name in exempt_bodies}
        excluded = {int(sig) for sig in m.exclude_signature[: m.nexclude]}

        def collides(a: int, b: int) -> bool:
            if not ((m.geom_contype[a] & m.geom_conaffinity[b]) or (m.geom_contype[b] & m.geom_conaffinity[a])):
                return False
            b1, b2 = sorted((int(m.geom_bodyid[a]), int(m.geom_bodyid[b])))
            return ((b1 << 16) + b2) not in excluded

        def static(body: int) -> bool:
            return m.body_weldid[body] == 0 and m.body_mocapid[body] < 0 and m.body_rootid[body] != root

        colliding = [g for g in range(m.ngeom) if m.geom_contype[g] or m.geom_conaffinity[g]]
        robot = [g for g in colliding if m.body_rootid[m.geom_bodyid[g]] == root and m.geom_bodyid[g] not in exempt]
        env = [g for g in colliding if static(m.geom_bodyid[g]) and any(collides(r, g) for r in robot)]
        if not robot or not env:
            raise ValueError(f"no robot/environment geom pairs to check (robot {len(robot)}, environment {len(env)})")
        self.robot = np.array(robot)
        # Geoms whose motion `update` bounds: one slice (a view, cheaper than fancy indexing) when the
        # robot's geoms are contiguous, as the model builder lays them out (its other geoms there move
        # with the robot too, so the bound only gets more conservative).
        lo, hi = int(self.robot.min()), int(self.robot.max()) + 1
        contiguous = all(m.body_rootid[m.geom_bodyid[g]] == root for g in range(lo, hi))
        self._moving = slice(lo, hi) if contiguous else self.robot
        self.env = np.array(env)
        self.names = [m.geom(g).name or m.body(m.geom_bodyid[g]).name for g in range(m.ngeom)]
        self.slack = float(slack)
        self.robot_radius = m.geom_rbound[self.robot][:, None]
        # Environment bounding boxes in their geom frames (centre, half size).
        aabb = m.geom_aabb[self.env].copy()
        planes = m.geom_type[self.env] == mujoco.mjtGeom.mjGEOM_PLANE
        aabb[planes] = [0.0, 0.0, -self._HALF_SPACE, self._HALF_SPACE, self._HALF_SPACE, self._HALF_SPACE]
        self.box_center, self.box_half = aabb[:, :3], aabb[:, 3:][None]
        self._never_inf = np.where([[not collides(r, e) for e in env] for r in robot], np.inf, 0.0)
        self._ones3 = np.ones(3)
        self.is_robot = np.zeros(m.ngeom, dtype=bool)
        self.is_robot[self.robot] = True
        self.is_env = np.zeros(m.ngeom, dtype=bool)
        self.is_env[self.env] = True
        self._fromto = np.zeros(6)
        self.reset()

    def reset(self) -> None:
        """Forget the coherence state (the next `update` measures in full)."""
        self._ref_centers = None
        self._active: list[tuple[float, int, int]] = []   # (lower bound, robot geom, env geom)
        self._ref_best = np.inf
        self.full_measures = 0   # statistics: full measures vs coherent updates
        self.updates = 0

    def lower_bounds(self, data: mujoco.MjData) -> np.ndarray:
        """[robot geom, environment geom] lower bounds of the signed distance (also when penetrating:
        a geom whose sphere centre lies inside a box penetrates at most the centre's depth + radius).
        Few numpy calls and no einsum or axis reductions: small-array calls cost microseconds each."""
        rot = data.geom_xmat[self.env].reshape(-1, 3, 3)                  # [e, world, local]
        # box centre in its own frame: R^T (p + R c) = R^T p + c
        o_local = np.matmul(data.geom_xpos[self.env][:, None, :], rot)[:, 0, :] + self.box_center
        n_r, n_e = len(self.robot), len(self.env)
        local = (data.geom_xpos[self.robot] @ rot.transpose(1, 0, 2).reshape(3, -1)).reshape(n_r, n_e, 3)
        excess = np.abs(local - o_local) - self.box_half
        outside2 = (np.square(np.maximum(excess, 0.0)).reshape(-1, 3) @ self._ones3).reshape(n_r, n_e)
        lb = np.sqrt(outside2) - self.robot_radius + self._never_inf
        inside = outside2 == 0.0
        if inside.any():
            lb[inside] = (excess.max(axis=2) - self.robot_radius + self._never_inf)[inside]
        return lb

    def _distance(self, data, gr: int, ge: int, distmax: float) -> float:
        return mujoco.mj_geomDistance(self.model, data, gr, ge, min(distmax, self.DISTMAX), self._fromto)

    def measure(self, data: mujoco.MjData, keep_within: float | None = None):
        """(signed distance, robot geom id, environment geom id, fromto) of the closest pair, for
        the geom poses in `data` (those of its last mj_forward / mj_kinematics / mj_step).
        With `keep_within`, also the pairs whose lower bound is below the minimum + keep_within,
        as (lower bound, robot geom, environment geom) in ascending order."""
        lb = self.lower_bounds(data)
        flat = lb.ravel().copy()
        best, pair, fromto = np.inf, (-1, -1), None
        ne = len(self.env)
        while True:
            k = int(np.argmin(flat))
            if flat[k] >= best:
                break
            flat[k] = np.inf
            gr, ge = int(self.robot[k // ne]), int(self.env[k % ne])
            dist = self._distance(data, gr, ge, best)
            if dist < best:
                best, pair, fromto = dist, (gr, ge), self._fromto.copy()
        result = (float(best), pair[0], pair[1], fromto)
        if keep_within is None:
            return result
        rows, cols = np.nonzero(lb < best + keep_within)
        kept = sorted((float(lb[r, c]), int(self.robot[r]), int(self.env[c])) for r, c in zip(rows, cols, strict=False))
        return result, kept

    def update(self, data: mujoco.MjData):
        """`measure`, exact, for a state one physics step after the previous call's (see the class)."""
        self.updates += 1
        if self._ref_centers is not None:
            diff = self._diff     # preallocated: small-array numpy calls cost microseconds each
            np.subtract(data.geom_xpos[self._moving], self._ref_centers, out=diff)
            np.multiply(diff, diff, out=diff)
            moved = math.sqrt(float((diff @ self._ones3).max()))
            if moved <= self.slack:
                # (the hot path: plain locals, one scratch buffer copied only on improvement)
                distance, model, scratch = mujoco.mj_geomDistance, self.model, self._fromto
                best, best_r, best_e, fromto = self.DISTMAX, -1, -1, None
                for bound, gr, ge in self._active:     # ascending lower bound at the full measure
                    if bound - moved >= best:          # this pair and all after it are farther
                        break
                    dist = distance(model, data, gr, ge, best, scratch)
                    if dist < best:
                        best, best_r, best_e, fromto = dist, gr, ge, scratch.copy()
                if best_r >= 0 and best <= self._ref_best + self.slack:
                    return float(best), best_r, best_e, fromto
        self.full_measures += 1
        result, self._active = self.measure(data, keep_within=2.0 * self.slack)
        self._ref_centers, self._ref_best = data.geom_xpos[self._moving].copy(), result[0]
        self._diff = np.empty_like(self._ref_centers)
        return result

    def contact(self, data: mujoco.MjData) -> bool:
        """Whether MuJoCo's contact list (of the last collision detection) has a checked pair."""
        if data.ncon == 0:
            return False
        g = data.contact.geom
        return bool(np.any((self.is_robot[g[:, 0]] & self.is_env[g[:, 1]]) |
                           (self.is_robot[g[:, 1]] & self.is_env[g[:, 0]])))

    def clearance(self, data: mujoco.MjData) -> Clearance:
        """The current state's closest pair (a full measure)."""
        dist, gr, ge, fromto = self.measure(data)
        return Clearance(dist, self.names[gr], self.names[ge], fromto[:3].copy(), fromto[3:].copy(),
                         self.contact(data) or dist <= 0.0, 0)


class JointCommandError(ValueError):
    """A joint command that the arm must not execute (the caller keeps the last valid one)."""


class World:
    """One simulated cell. Not thread-safe by itself: the node serialises access with `lock`."""

    # Below this robot-environment distance (m) each step also looks for a MuJoCo contact between them.
    CONTACT_CHECK_DISTANCE = 0.001

    def __init__(self, config: SimConfig | None = None, description: RobotDescription | None = None):
        self.config = config or SimConfig()
        self.desc = description or load_robot_description()
        self.lock = threading.RLock()
        self._models: dict[tuple, mujoco.MjModel] = {}
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        # Meshes are drawn as their convex hulls: the Gen3 and 2F-85 meshes have 154k faces,
        # which software GL renders several times slower than the hulls (which look nearly the same).
        # MuJoCo draws hulls only for collision geoms, so the 2F-85's collision geoms (group 3)
        # are shown instead of its visual-only duplicates (group 2).
        self.render_option = mujoco.MjvOption()
        self.render_option.flags[mujoco.mjtVisFlag.mjVIS_CONVEXHULL] = True
        self.render_option.geomgroup[2] = 0
        self.render_option.geomgroup[3] = 1
        self.task = None
        self.setting = "simple"
        # Off by default (the dataset generator does not need it); the sim node turns it on.
        self.track_clearance = False
        self._window = None
        self.clearance_seconds, self.clearance_steps = 0.0, 0   # its CPU cost (the node reports it)
        self.model_generation = 0
        self.reset_count = 0
        self._load_model(None, "simple")
        self.reset()

    # ------------------------------------------------------------------ model
    def _load_model(self, task, setting: str) -> None:
        key = (task.name if task else None, setting)
        if key not in self._models:
            def scene(spec):
                self._add_table(spec)
                if task is not None:
                    task.build(spec, setting)
            spec = build_robot_spec(self.desc, self.config.servo, self.config.timestep, self.config.cameras,
                                    self.config.max_render_size, scene)
            self._models[key] = spec.compile()
        model = self._models[key]
        if getattr(self, "model", None) is not model:
            self.model = model
            self.data = mujoco.MjData(model)
            for renderer in self._renderers.values():
                renderer.close()
            self._renderers.clear()
            self.model_generation += 1
            self._index()

    def _add_table(self, spec: mujoco.MjSpec) -> None:
        top = self.desc.table_center[2] + self.desc.table_size[2] / 2  # table top, z in base_link
        table = spec.worldbody.add_body(name="table", pos=list(self.desc.table_center))
        table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=[s / 2 for s in self.desc.table_size],
                       rgba=list(self.config.table_rgba), contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT)
        spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                                pos=[0, 0, top - 0.75], rgba=[0.3, 0.32, 0.35, 1.0],
                                contype=SCENE_BIT, conaffinity=SCENE_BIT | ROBOT_BIT)
        # A back wall so the head camera sees a controlled background (its colour is a setting).
        spec.worldbody.add_geom(name="backdrop", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.02, 1.5, 1.0],
                                pos=[-0.6, 0.0, top + 0.25], rgba=[0.8, 0.8, 0.82, 1.0], contype=0, conaffinity=0)

    def _index(self) -> None:
        m = self.model
        self.arm_qpos = np.array([m.jnt_qposadr[m.joint(n).id] for n in self.desc.arm_joints])
        self.arm_dof = np.array([m.jnt_dofadr[m.joint(n).id] for n in self.desc.arm_joints])
        self.pos_act = np.array([m.actuator(f"{n}/position").id for n in self.desc.arm_joints])
        self.vel_act = np.array([m.actuator(f"{n}/velocity").id for n in self.desc.arm_joints])
        ids = [m.joint(n).id for n in self.desc.arm_joints]
        self.limited = m.jnt_limited[ids].astype(bool)
        self.lower = np.where(self.limited, m.jnt_range[ids, 0], -np.inf)
        self.upper = np.where(self.limited, m.jnt_range[ids, 1], np.inf)
        self.velocity_limit = np.array(_urdf_velocity_limits(self.desc))
        self.gripper_qpos = m.jnt_qposadr[m.joint(GRIPPER_DRIVER_JOINT).id]
        self.gripper_dof = m.jnt_dofadr[m.joint(GRIPPER_DRIVER_JOINT).id]
        self.gripper_stroke = float(m.jnt_range[m.joint(GRIPPER_DRIVER_JOINT).id, 1])   # rad, closed
        self.gripper_act = m.actuator(GRIPPER_ACTUATOR).id
        self.tcp_site = m.site(TCP_SITE).id
        self.clearance_monitor = EnvironmentClearance(m, self.desc.base_link, self.config.clearance_exempt_bodies)
        self._window = None

    # ------------------------------------------------------------------ control
    def reset(self, task: str | None = None, setting: str = "simple", seed: int = 0) -> str:
        """Put the robot at home with the gripper open and lay out `task`; returns its instruction."""
        from .tasks import make_task  # tasks import World's helpers
        with self.lock:
            self.task = make_task(task) if task else None
            self.setting = setting
            self._load_model(self.task, setting)
            mujoco.mj_resetData(self.model, self.data)
            home = np.array(self.desc.home)
            self.data.qpos[self.arm_qpos] = home
            self.command_q = home.copy()
            self.command_qd = np.zeros(len(home))
            self.data.ctrl[self.pos_act] = home
            self.data.ctrl[self.vel_act] = 0.0
            self.data.ctrl[self.gripper_act] = 0.0
            self.rng = np.random.default_rng(seed)
            instruction = ""
            if self.task is not None:
                instruction = self.task.reset(self, self.rng, setting)
                # Let objects come to rest (stacked bin contents settle) before the episode starts.
                settle_steps = int(round(self.config.settle_time / self.model.opt.timestep))
                mujoco.mj_step(self.model, self.data, nstep=settle_steps)
                self.data.time = 0.0
            mujoco.mj_forward(self.model, self.data)
            self._window = None  # the closest approach of the previous episode is not this one's
            self.clearance_monitor.reset()  # a task may have moved its fixtures
            self.instruction = instruction
            self.reset_count += 1  # sim time restarted: real-time loops resynchronise on this
            return instruction

    def validate_joint_command(self, q, qd=None) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.desc.arm_joints)
        q = np.asarray(q, dtype=float).ravel()
        qd = np.zeros(n) if qd is None or len(qd) == 0 else np.asarray(qd, dtype=float).ravel()
        if q.shape != (n,) or qd.shape != (n,):
            raise JointCommandError(f"expected {n} positions and {n} velocities, got {q.size} and {qd.size}")
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd))):
            raise JointCommandError("command contains NaN or inf")
        beyond = (q < self.lower) | (q > self.upper)
        if np.any(beyond):
            i = int(np.flatnonzero(beyond)[0])
            raise JointCommandError(f"{self.desc.arm_joints[i]} = {q[i]:.4f} rad is outside the URDF limits "
                                    f"[{self.lower[i]:.4f}, {self.upper[i]:.4f}]")
        fast = np.abs(qd) > self.velocity_limit
        if np.any(fast):
            i = int(np.flatnonzero(fast)[0])
            raise JointCommandError(f"{self.desc.arm_joints[i]} velocity {qd[i]:.3f} rad/s exceeds the URDF limit "
                                    f"{self.velocity_limit[i]:.3f}")
        return q, qd

    def set_joint_command(self, q, qd=None) -> None:
        """Servo targets; raises JointCommandError (and keeps the previous target) if invalid."""
        q, qd = self.validate_joint_command(q, qd)
        with self.lock:
            self.command_q, self.command_qd = q, qd
            self.data.ctrl[self.pos_act] = q
            self.data.ctrl[self.vel_act] = qd

    def set_gripper(self, position: float) -> None:
        """0 open .. 1 closed (fraction of the stroke)."""
        if not np.isfinite(position) or not 0.0 <= position <= 1.0:
            raise ValueError(f"gripper position {position} is outside 0..1")
        with self.lock:
            self.data.ctrl[self.gripper_act] = float(position) * GRIPPER_CTRL_MAX

    def step(self, n: int = 1) -> None:
        with self.lock:
            if self.track_clearance:
                for _ in range(n):
                    mujoco.mj_step(self.model, self.data)
                    t0 = time.thread_time()     # CPU time of this thread: not the waits for the GIL
                    self._track_clearance()
                    self.clearance_seconds += time.thread_time() - t0
                    self.clearance_steps += 1
            else:
                mujoco.mj_step(self.model, self.data, nstep=n)
            if self.task is not None and hasattr(self.task, "update"):
                self.task.update(self)  # tasks whose success is an event (a button press) latch it

    # ------------------------------------------------------------------ clearance
    def _track_clearance(self) -> None:
        """Fold the step just taken into the window: geom poses and contacts in `data` after
        mj_step are the ones that step's collision detection used."""
        monitor = self.clearance_monitor
        dist, gr, ge, fromto = monitor.update(self.data)
        # MuJoCo makes a contact only where the geoms touch: skip the contact list when far apart.
        contact = dist < self.CONTACT_CHECK_DISTANCE and monitor.contact(self.data)
        w = self._window
        if w is None:
            self._window = [dist, gr, ge, fromto, contact, 1]
            return
        if dist < w[0]:
            w[0], w[1], w[2], w[3] = dist, gr, ge, fromto
        w[4] = w[4] or contact
        w[5] += 1

    def environment_clearance(self) -> Clearance:
        """Closest robot-environment pair of the current geom poses (those of the last
        mj_forward or mj_step; reset() runs mj_forward)."""
        with self.lock:
            return self.clearance_monitor.clearance(self.data)

    def take_clearance(self) -> Clearance:
        """The closest approach over every step since the previous call (with `track_clearance`
        on), and starts a new window; with no step since, the current state's clearance."""
        with self.lock:
            w, self._window = self._window, None
            if w is None:
                return self.clearance_monitor.clearance(self.data)
            names = self.clearance_monitor.names
            dist, gr, ge, fromto, contact, steps = w
            return Clearance(dist, names[gr], names[ge], fromto[:3].copy(), fromto[3:].copy(),
                             contact or dist <= 0.0, steps)

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        return float(self.data.time)

    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self.arm_qpos].copy()

    def joint_velocities(self) -> np.ndarray:
        return self.data.qvel[self.arm_dof].copy()

    def joint_efforts(self) -> np.ndarray:
        return self.data.qfrc_actuator[self.arm_dof].copy()

    def gripper_angle(self) -> float:
        """Driver-joint angle, rad (0 open .. `gripper_stroke` closed): the contract's knuckle joint."""
        return float(self.data.qpos[self.gripper_qpos])

    def gripper_velocity(self) -> float:
        return float(self.data.qvel[self.gripper_dof])

    def gripper_position(self) -> float:
        return float(np.clip(self.gripper_angle() / self.gripper_stroke, 0.0, 1.0))

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (m) and orientation (x, y, z, w) in base_link."""
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.tcp_site])
        return self.data.site_xpos[self.tcp_site].copy(), np.roll(quat, -1)

    def success(self) -> bool:
        return bool(self.task is not None and self.task.success(self))

    # ------------------------------------------------------------------ cameras
    def camera_names(self) -> list[str]:
        return [c.name for c in self.config.cameras]

    def make_renderer(self, width: int, height: int) -> mujoco.Renderer:
        """A renderer for this model (its GL context belongs to the calling thread)."""
        r = mujoco.Renderer(self.model, height=height, width=width)
        r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        return r

    def render(self, camera: str, width: int = 224, height: int = 224, data: mujoco.MjData | None = None,
               renderer: mujoco.Renderer | None = None) -> np.ndarray:
        """HxWx3 uint8 RGB from a named camera (of `data`, default the live state)."""
        if renderer is None:
            key = (width, height)
            if key not in self._renderers:
                self._renderers[key] = self.make_renderer(width, height)
            renderer = self._renderers[key]
        renderer.update_scene(self.data if data is None else data, camera=camera, scene_option=self.render_option)
        return renderer.render()

    def camera_intrinsics(self, camera: str, width: int, height: int) -> np.ndarray:
        """3x3 pinhole matrix K of a MuJoCo camera (square pixels, centred principal point)."""
        fovy = np.deg2rad(self.model.cam_fovy[self.model.camera(camera).id])
        f = 0.5 * height / np.tan(0.5 * fovy)
        return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])

    def snapshot_into(self, data: mujoco.MjData) -> None:
        """Copy what rendering needs into another MjData (same model) so a second thread can
        render it while physics keeps stepping."""
        with self.lock:
            data.qpos[:] = self.data.qpos
            data.mocap_pos[:] = self.data.mocap_pos
            data.mocap_quat[:] = self.data.mocap_quat
            data.time = self.data.time
        mujoco.mj_kinematics(self.model, data)
        mujoco.mj_camlight(self.model, data)


def _urdf_velocity_limits(desc: RobotDescription) -> list[float]:
    import xml.etree.ElementTree as ET
    root = ET.fromstring(desc.urdf_path.read_text())
    limits = {j.get("name"): float(j.find("limit").get("velocity")) for j in root.iter("joint")
              if j.find("limit") is not None and j.find("limit").get("velocity")}
    return [limits[n] for n in desc.arm_joints]
