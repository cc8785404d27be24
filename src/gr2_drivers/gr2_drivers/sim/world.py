"""The simulated robot cell: Gen3 + 2F-85 on a table, a head camera and a wrist camera.

ROS-free core used by the sim node (real time), the dataset generator and the tests
(lockstep). Joint commands go to position servos with velocity feed-forward and gravity
compensation; rendering is offscreen (MUJOCO_GL=egl) with shadows and reflections off,
which is what makes 224x224 frames cheap enough on a CPU.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np
import yaml

from gr2_contract import HEAD_CAMERA, WRIST_CAMERA
from gr2_wbc.robot_description import RobotDescription, load_robot_description

from .model_builder import (GRIPPER_ACTUATOR, GRIPPER_CTRL_MAX, GRIPPER_DRIVER_JOINT, GRIPPER_STROKE_RAD,
                            SCENE_BIT, ROBOT_BIT, TCP_SITE, ArmServoConfig, CameraSpec, build_robot_spec)


@dataclass
class SimConfig:
    timestep: float = 0.002
    servo: ArmServoConfig = field(default_factory=ArmServoConfig)
    cameras: list[CameraSpec] = field(default_factory=lambda: [
        CameraSpec(HEAD_CAMERA, "world", (1.15, 0.0, 0.85), (0.45, 0.0, 0.05), fovy_deg=55.0),
        CameraSpec(WRIST_CAMERA, "end_effector_link", (0.0, -0.085, 0.02), (0.0, 0.0, 0.22),
                   up=(0.0, -1.0, 0.0), fovy_deg=70.0),
    ])
    settle_time: float = 0.3         # s simulated after laying out a task, before the episode starts
    table_rgba: tuple[float, float, float, float] = (0.55, 0.45, 0.35, 1.0)
    max_render_size: tuple[int, int] = (640, 480)


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


class JointCommandError(ValueError):
    """A joint command that the arm must not execute (the caller keeps the last valid one)."""


class World:
    """One simulated cell. Not thread-safe by itself: the node serialises access with `lock`."""

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
        self.gripper_act = m.actuator(GRIPPER_ACTUATOR).id
        self.tcp_site = m.site(TCP_SITE).id

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
            mujoco.mj_step(self.model, self.data, nstep=n)
            if self.task is not None and hasattr(self.task, "update"):
                self.task.update(self)  # tasks whose success is an event (a button press) latch it

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
        """Driver-joint angle, rad (0 open .. 0.8 closed): the contract's knuckle joint."""
        return float(self.data.qpos[self.gripper_qpos])

    def gripper_velocity(self) -> float:
        return float(self.data.qvel[self.gripper_dof])

    def gripper_position(self) -> float:
        return float(np.clip(self.gripper_angle() / GRIPPER_STROKE_RAD, 0.0, 1.0))

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
