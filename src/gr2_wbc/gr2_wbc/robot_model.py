"""Pinocchio + coal model of the arm as the controller sees it. ROS-free.

Built from the same URDF as the simulator (gr2_description.robot), reduced to the seven
arm joints: the gripper joints are locked open, so the gripper becomes rigid geometry on the
last link. The controller works with seven joint *angles*; Pinocchio represents continuous
joints as (cos, sin) pairs, so `configuration()` converts.

Collision geometry is the convex hull of each link mesh (coal); the gripper's comes from the
MuJoCo model of the gripper that is mounted (gr2_description.gripper_geometry), not from the
URDF: distances between convex hulls cost microseconds, raw meshes milliseconds, and the hull
is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import coal
import numpy as np
import pinocchio as pin

from gr2_description.gripper_geometry import load_gripper_hull
from gr2_description.robot import RobotDescription, load_robot_description
from gr2_wbc import _cycle

GRIPPER_BODY = "gripper"   # the collision body of the gripper mounted at the flange


@dataclass(frozen=True)
class BoxObstacle:
    """An axis-aligned box in base_link (the table is one)."""
    name: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass
class ModelConfig:
    """Joint acceleration limits, velocity scale, obstacles and collision-checking rules of the robot model."""
    # rad/s^2, per joint (not in the URDF)
    acceleration_limits: tuple[float, ...] = (5.0, 5.0, 5.0, 5.0, 8.0, 8.0, 8.0)
    velocity_scale: float = 1.0          # fraction of the URDF velocity limits the controller may use
    obstacles: tuple[BoxObstacle, ...] = ()
    # Links rigidly attached to an obstacle (the base sits on the table) are never checked against it.
    obstacle_exempt_links: tuple[str, ...] = ("base_link", "shoulder_link")
    # Self-collision: geometry pairs at least this many joints apart in the chain are checked.
    self_collision_min_joint_gap: int = 2
    # Pairs that overlap already at the home configuration (mesh artefacts, e.g. base/shoulder) are skipped.
    skip_pairs_overlapping_at_home: bool = True


@dataclass
class CollisionBody:
    """All collision meshes of one moving link merged into one convex hull in its joint frame
    (the locked gripper merges into the last link)."""
    name: str
    joint: int
    hull: object                    # coal.ConvexBase
    center: np.ndarray              # bounding sphere, joint frame
    radius: float


@dataclass
class CollisionPair:
    """Two collision bodies checked against each other (by index), or a body and an obstacle."""
    body_a: int             # index into bodies
    body_b: int             # index, or -1 - obstacle index for an environment obstacle
    name: str


@dataclass
class Proximity:
    """Signed distance of one pair and the row that maps joint velocity to its rate of change."""
    name: str
    distance: float
    jacobian: np.ndarray    # (7,) d(distance)/dt = jacobian @ qdot
    point_a: np.ndarray
    point_b: np.ndarray
    pair: int = -1          # index into RobotModel.pairs


@dataclass
class ProximityReport:
    """Distances (m) of all collision pairs, and the close ones with their Jacobian rows."""
    distances: np.ndarray          # per pair (same order as RobotModel.pairs); far pairs: sphere lower bound
    close: list[Proximity]         # exact distance + Jacobian row for pairs within the influence distance

    @property
    def min_distance(self) -> float:
        return float(self.distances.min()) if len(self.distances) else float("inf")


@dataclass
class RobotModel:
    """The 7-joint arm for the controller: Pinocchio kinematics reduced from the URDF (gripper locked),
    joint limits (rad, rad/s, rad/s^2) and collision bodies, pairs and obstacles. Build it with `load`."""
    description: RobotDescription
    config: ModelConfig
    model: pin.Model
    data: pin.Data
    geom_model: pin.GeometryModel
    tcp_frame: int
    lower: np.ndarray                 # rad, -inf for continuous joints
    upper: np.ndarray
    velocity_limit: np.ndarray        # rad/s
    acceleration_limit: np.ndarray    # rad/s^2
    continuous: np.ndarray            # bool per joint
    gripper_stroke: float             # rad, the gripper joint's closed position (URDF upper limit)
    pairs: list[CollisionPair] = field(default_factory=list)
    bodies: list[CollisionBody] = field(default_factory=list)
    _obstacle_shapes: list = field(default_factory=list)
    _obstacle_tf: list = field(default_factory=list)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def load(cls, config: ModelConfig | None = None,
             description: RobotDescription | None = None) -> "RobotModel":
        config = config or ModelConfig()
        desc = description or load_robot_description()
        full = pin.buildModelFromUrdf(str(desc.urdf_path))
        geom = pin.buildGeomFromUrdf(full, str(desc.urdf_path), pin.GeometryType.COLLISION,
                                     package_dirs=[str(desc.package_root.parent)])
        arm_ids = [full.getJointId(n) for n in desc.arm_joints]
        if any(i >= full.njoints for i in arm_ids):
            raise ValueError(f"URDF {desc.urdf_path} lacks one of the arm joints {desc.arm_joints}")
        gripper_id = full.getJointId(desc.gripper_joint)
        if gripper_id >= full.njoints:
            raise ValueError(f"URDF {desc.urdf_path} lacks the gripper joint {desc.gripper_joint}")
        gripper_stroke = float(full.upperPositionLimit[full.joints[gripper_id].idx_q])
        locked = [j for j in range(1, full.njoints) if j not in arm_ids]
        model, geom_model = pin.buildReducedModel(full, geom, locked, pin.neutral(full))
        if model.nv != len(desc.arm_joints):
            raise ValueError(f"reduced model has {model.nv} dofs, expected {len(desc.arm_joints)}")
        flange = model.getFrameId(desc.flange_link)
        if flange >= model.nframes:
            raise ValueError(f"flange link '{desc.flange_link}' not in the URDF")
        tcp = pin.SE3(pin.Quaternion(np.array(desc.tcp_orientation)).normalized().matrix(),
                      np.array(desc.tcp_position))
        f = model.frames[flange]
        tcp_frame = model.addFrame(pin.Frame("tcp", f.parentJoint, flange, f.placement * tcp,
                                             pin.FrameType.OP_FRAME))
        continuous = np.array([model.joints[j].nq == 2 for j in range(1, model.njoints)])
        lower = np.full(7, -np.inf)
        upper = np.full(7, np.inf)
        for k in range(7):
            if not continuous[k]:
                idx = model.joints[k + 1].idx_q
                lower[k], upper[k] = model.lowerPositionLimit[idx], model.upperPositionLimit[idx]
        acc = np.asarray(config.acceleration_limits, dtype=float)
        if acc.shape != (7,) or np.any(acc <= 0):
            raise ValueError(f"acceleration_limits must be 7 positive values, got {config.acceleration_limits}")
        self = cls(description=desc, config=config, model=model, data=model.createData(),
                   geom_model=geom_model, tcp_frame=tcp_frame, lower=lower, upper=upper,
                   velocity_limit=np.array(model.velocityLimit) * config.velocity_scale,
                   acceleration_limit=acc, continuous=continuous, gripper_stroke=gripper_stroke)
        self._build_collision(np.array(desc.home))
        return self

    def _build_collision(self, q_home: np.ndarray) -> None:
        by_joint: dict[int, list[np.ndarray]] = {}
        names: dict[int, str] = {}
        prefix = self.description.gripper_urdf_link_prefix
        for obj in self.geom_model.geometryObjects:
            if prefix and self.model.frames[obj.parentFrame].name.startswith(prefix):
                continue   # replaced by the mounted gripper's own geometry below
            obj.geometry.buildConvexHull(True, "Qt")
            hull = obj.geometry.convex
            pts = np.array(hull.points())[: hull.num_points]
            pts = pts @ obj.placement.rotation.T + obj.placement.translation
            by_joint.setdefault(obj.parentJoint, []).append(pts)
            names.setdefault(obj.parentJoint, self.model.frames[obj.parentFrame].name)
        bodies_points = [(names[j], j, np.vstack(by_joint[j])) for j in sorted(by_joint)]
        if self.description.gripper_mjcf is not None:
            # The mounted gripper is a body of its own (on the flange's joint), so that it can have
            # its own margin to the environment: its pads must reach objects lying on the table.
            flange = self.model.frames[self.model.getFrameId(self.description.flange_link)]
            if self.description.gripper_collision_hull is None:
                raise ValueError("robot.yaml names a gripper mjcf but no gripper.collision_hull")
            pts = load_gripper_hull(self.description.gripper_collision_hull, self.description.gripper_mjcf)
            bodies_points.append((GRIPPER_BODY, flange.parentJoint,
                                  pts @ flange.placement.rotation.T + flange.placement.translation))
        # The controller's own geometry model: one hull per link, placed at the centre of its
        # bounding sphere (so the placement's translation *is* the sphere centre for the broad
        # phase), and the obstacle boxes on the universe joint. Pinocchio then places all of
        # them and runs the exact distances in C++.
        self._cmodel = pin.GeometryModel()
        for name, joint, pts in bodies_points:
            center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
            radius = float(np.max(np.linalg.norm(pts - center, axis=1)))
            hull = coal.Convex.convexHull([p for p in pts - center], True, "Qt")
            self.bodies.append(CollisionBody(name, joint, hull, center, radius))
            self._cmodel.addGeometryObject(pin.GeometryObject(name, joint, pin.SE3(np.eye(3), center), hull))
        for box in self.config.obstacles:
            self._cmodel.addGeometryObject(pin.GeometryObject(
                box.name, 0, pin.SE3(np.eye(3), np.array(box.center, dtype=float)), coal.Box(*box.size)))
        gap = self.config.self_collision_min_joint_gap
        pairs = [CollisionPair(a, b, f"{self.bodies[a].name}|{self.bodies[b].name}")
                 for a, b in combinations(range(len(self.bodies)), 2)
                 if abs(self.bodies[a].joint - self.bodies[b].joint) >= gap]
        self._set_pairs(pairs)
        if self.config.skip_pairs_overlapping_at_home:
            self.update(q_home)
            self._set_pairs([p for p, d in zip(pairs, self.proximities(np.inf).distances, strict=False) if d > 0.0])
        for i, box in enumerate(self.config.obstacles):
            for a, body in enumerate(self.bodies):
                if body.name not in self.config.obstacle_exempt_links:
                    self.pairs.append(CollisionPair(a, -1 - i, f"{body.name}|{box.name}"))
        self._set_pairs(self.pairs)

    def _geometry_index(self, body: int) -> int:
        """Index in the controller's geometry model: bodies first, then obstacles."""
        return body if body >= 0 else len(self.bodies) + (-1 - body)

    def _set_pairs(self, pairs: list[CollisionPair]) -> None:
        """Pairs in the same order in self.pairs and in the geometry model, plus the arrays
        the per-cycle broad phase uses."""
        self.pairs = list(pairs)
        self._cmodel.removeAllCollisionPairs()
        for pair in self.pairs:
            self._cmodel.addCollisionPair(pin.CollisionPair(self._geometry_index(pair.body_a),
                                                            self._geometry_index(pair.body_b)))
        self._cdata = cdata = pin.GeometryData(self._cmodel)
        for request in self._cdata.distanceRequests:
            request.enable_signed_distance = True
            # GJK warm-starts from the previous cycle's direction; with the default 1e-6 tolerance
            # the distance then wobbles by ~1e-6 m between cycles, too much for the Jacobian
            # rows to predict it. 1e-9 costs nothing measurable (2 us per hull pair either way).
            request.gjk_tolerance = 1e-9
        boxes = self.config.obstacles
        # Broad phase, exact distances and Jacobian rows run in the compiled cycle, on this
        # model's own Pinocchio/coal objects (bodies first in the geometry model, then obstacles).
        self.collision_checker = _cycle.CollisionChecker(
            self.model, self.data, self._cmodel, cdata,
            radius=np.array([b.radius for b in self.bodies]),
            pair_a=np.array([p.body_a for p in self.pairs], dtype=np.int32),
            pair_b=np.array([p.body_b for p in self.pairs], dtype=np.int32),
            joint_a=np.array([self.bodies[p.body_a].joint for p in self.pairs], dtype=np.int32),
            joint_b=np.array([self.bodies[p.body_b].joint if p.body_b >= 0 else 0 for p in self.pairs], dtype=np.int32),
            box_center=np.array([b.center for b in boxes], dtype=float).reshape(-1, 3),
            box_half=0.5 * np.array([b.size for b in boxes], dtype=float).reshape(-1, 3))

    # --- kinematics -----------------------------------------------------------------------
    def configuration(self, q: np.ndarray) -> np.ndarray:
        """Seven joint angles -> Pinocchio configuration (cos/sin for continuous joints).

        Vectorised with index arrays built once: this runs every 5 ms cycle."""
        if not hasattr(self, "_idx_rev"):
            idx = np.array([self.model.joints[k + 1].idx_q for k in range(7)])
            self._idx_rev, self._idx_cont = idx[~self.continuous], idx[self.continuous]
            self._rev, self._cont = np.flatnonzero(~self.continuous), np.flatnonzero(self.continuous)
        out = np.empty(self.model.nq)
        out[self._idx_rev] = q[self._rev]
        qc = q[self._cont]
        out[self._idx_cont], out[self._idx_cont + 1] = np.cos(qc), np.sin(qc)
        return out

    def update(self, q: np.ndarray) -> None:
        """Kinematics of configuration q; all queries below refer to the latest update.

        Keeps the spatial joint Jacobian (world frame, velocity at the origin): its columns
        are (axis_i, -axis_i x origin_i), all a point Jacobian on the chain needs."""
        qp = self.configuration(np.asarray(q, dtype=float))
        pin.computeJointJacobians(self.model, self.data, qp)   # also runs forward kinematics
        pin.updateFramePlacement(self.model, self.data, self.tcp_frame)

    def tcp_pose(self) -> pin.SE3:
        return self.data.oMf[self.tcp_frame]

    def tcp_jacobian(self) -> np.ndarray:
        """6x7, linear rows first, expressed in base_link at the TCP."""
        return pin.getFrameJacobian(self.model, self.data, self.tcp_frame, pin.LOCAL_WORLD_ALIGNED)

    def forward(self, q: np.ndarray) -> pin.SE3:
        self.update(q)
        return self.tcp_pose().copy()

    def manipulability(self, jacobian: np.ndarray) -> tuple[float, np.ndarray]:
        """Yoshikawa measure m = sqrt(det(J J^T)) and its analytic gradient in q (compiled, the
        cycle's own: O(n) for a revolute chain, no Jacobian-derivative tensor)."""
        grad = np.empty(7)
        m = _cycle.manipulability(np.asarray(jacobian, dtype=float), grad)
        return m, grad

    # --- collision ------------------------------------------------------------------------
    def proximities(self, influence: float) -> ProximityReport:
        """Distances of the checked pairs (latest update). Exact distance, witness points and
        Jacobian row only for pairs whose bounding spheres come within `influence`: only those
        enter the QP; the others report the sphere lower bound."""
        distances, close = self.collision_checker.proximities(influence)
        return ProximityReport(np.asarray(distances), [
            Proximity(self.pairs[k].name, d, np.asarray(row), np.asarray(pa), np.asarray(pb), k)
            for k, d, row, pa, pb in close])

    def is_gripper_environment_pair(self, k: int) -> bool:
        pair = self.pairs[k]
        return pair.body_b < 0 and self.bodies[pair.body_a].name == GRIPPER_BODY

    def clamp_to_limits(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.lower, self.upper)
