"""Pinocchio + coal model of the arm as the controller sees it. ROS-free.

Built from the same URDF as the simulator (gr2_wbc.robot_description), reduced to the seven
arm joints: the gripper joints are locked open, so the gripper becomes rigid geometry on the
last link. The controller works with seven joint *angles*; Pinocchio represents continuous
joints as (cos, sin) pairs, so `configuration()` converts.

Collision geometry is the convex hull of each link mesh (coal): distances between convex
hulls cost microseconds, raw meshes milliseconds, and the hull is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import coal
import numpy as np
import pinocchio as pin

from gr2_wbc.robot_description import RobotDescription, load_robot_description


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis; np.cross costs ~10x more on these tiny arrays."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                     a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


@dataclass(frozen=True)
class BoxObstacle:
    """An axis-aligned box in base_link (the table is one)."""
    name: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]


@dataclass
class ModelConfig:
    acceleration_limits: tuple[float, ...] = (5.0,) * 7   # rad/s^2, per joint (not in the URDF)
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


@dataclass
class ProximityReport:
    distances: np.ndarray          # per pair (same order as RobotModel.pairs); far pairs: sphere lower bound
    close: list[Proximity]         # exact distance + Jacobian row for pairs within the influence distance

    @property
    def min_distance(self) -> float:
        return float(self.distances.min()) if len(self.distances) else float("inf")


@dataclass
class RobotModel:
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
                   acceleration_limit=acc, continuous=continuous)
        self._build_collision(np.array(desc.home))
        return self

    def _build_collision(self, q_home: np.ndarray) -> None:
        by_joint: dict[int, list[np.ndarray]] = {}
        names: dict[int, str] = {}
        for obj in self.geom_model.geometryObjects:
            obj.geometry.buildConvexHull(True, "Qt")
            hull = obj.geometry.convex
            pts = np.array(hull.points())[: hull.num_points]
            pts = pts @ obj.placement.rotation.T + obj.placement.translation
            by_joint.setdefault(obj.parentJoint, []).append(pts)
            names.setdefault(obj.parentJoint, self.model.frames[obj.parentFrame].name)
        for joint in sorted(by_joint):
            pts = np.vstack(by_joint[joint])
            hull = coal.Convex.convexHull([p for p in pts], True, "Qt")
            center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
            radius = float(np.max(np.linalg.norm(pts - center, axis=1)))
            self.bodies.append(CollisionBody(names[joint], joint, hull, center, radius))
        for box in self.config.obstacles:
            self._obstacle_shapes.append(coal.Box(*box.size))
            self._obstacle_tf.append(coal.Transform3s(np.eye(3), np.array(box.center, dtype=float)))
        gap = self.config.self_collision_min_joint_gap
        pairs = [CollisionPair(a, b, f"{self.bodies[a].name}|{self.bodies[b].name}")
                 for a, b in combinations(range(len(self.bodies)), 2)
                 if abs(self.bodies[a].joint - self.bodies[b].joint) >= gap]
        self.pairs = pairs
        self.__dict__.pop("_pair_a", None)
        if self.config.skip_pairs_overlapping_at_home:
            self.update(q_home)
            self.pairs = [p for p, d in zip(pairs, self.proximities(np.inf).distances) if d > 0.0]
            for attr in ("_pair_a", "_pair_b"):
                self.__dict__.pop(attr, None)
        for i, box in enumerate(self.config.obstacles):
            for a, body in enumerate(self.bodies):
                if body.name not in self.config.obstacle_exempt_links:
                    self.pairs.append(CollisionPair(a, -1 - i, f"{body.name}|{box.name}"))
        self.__dict__.pop("_pair_a", None)

    # --- kinematics -----------------------------------------------------------------------
    def configuration(self, q: np.ndarray) -> np.ndarray:
        """Seven joint angles -> Pinocchio configuration (cos/sin for continuous joints).

        Vectorised with index arrays built once: this runs every 5 ms cycle."""
        if not hasattr(self, "_idx_rev"):
            idx = np.array([self.model.joints[k + 1].idx_q for k in range(7)])
            self._idx_rev, self._idx_cont = idx[~self.continuous], idx[self.continuous]
        out = np.empty(self.model.nq)
        out[self._idx_rev] = q[~self.continuous]
        qc = q[self.continuous]
        out[self._idx_cont], out[self._idx_cont + 1] = np.cos(qc), np.sin(qc)
        return out

    def update(self, q: np.ndarray) -> None:
        """Kinematics of configuration q; all queries below refer to the latest update."""
        qp = self.configuration(np.asarray(q, dtype=float))
        pin.computeJointJacobians(self.model, self.data, qp)   # also runs forward kinematics
        pin.updateFramePlacements(self.model, self.data)
        # Joint frames as arrays (rotations [j, 3, 3], origins [j, 3]); every arm joint rotates
        # about its local z (RZ / RUBZ joints of the reduced model).
        oMi = self.data.oMi
        self._joint_R = np.array([oMi[j].rotation for j in range(8)])      # index = joint id (0: base)
        self._joint_p = np.array([oMi[j].translation for j in range(8)])
        self._origins = self._joint_p[1:]
        self._axes = self._joint_R[1:, :, 2]

    def tcp_pose(self) -> pin.SE3:
        return self.data.oMf[self.tcp_frame]

    def tcp_jacobian(self) -> np.ndarray:
        """6x7, linear rows first, expressed in base_link at the TCP."""
        return pin.getFrameJacobian(self.model, self.data, self.tcp_frame, pin.LOCAL_WORLD_ALIGNED)

    def forward(self, q: np.ndarray) -> pin.SE3:
        self.update(q)
        return self.tcp_pose().copy()

    def manipulability(self, jacobian: np.ndarray) -> tuple[float, np.ndarray]:
        """Yoshikawa measure sqrt(det(J J^T)) and its gradient in q.

        The gradient uses the closed-form Jacobian derivative of a serial chain of revolute
        joints (dJ_i/dq_k from the joint axes), so it costs one 6x7x7 tensor, not 7 extra FK calls.
        """
        axes, origins = self._axes, self._origins
        p = self.tcp_pose().translation
        A = jacobian @ jacobian.T
        m = float(np.sqrt(max(np.linalg.det(A), 0.0)))
        if m < 1e-12:
            return m, np.zeros(7)
        ak, ai = axes[:, None, :], axes[None, :, :]           # [k, i, xyz]
        r = (p - origins)[None, :, :]
        ang = _cross(ak, ai)                                # d(axis_i)/dq_k for k <= i
        lin_le = _cross(ang, r) + _cross(ai, _cross(ak, r))
        lin_gt = _cross(ai, jacobian[:3].T[:, None, :])     # k > i: only the TCP moves
        upper = (np.arange(7)[:, None] <= np.arange(7)[None, :])[..., None]
        H = np.concatenate([np.where(upper, lin_le, lin_gt), np.where(upper, ang, 0.0)], axis=2)
        B = np.linalg.solve(A, jacobian)   # A^-1 J, [row, i]
        grad = m * np.einsum("ri,kir->k", B, H)
        return m, grad

    # --- collision ------------------------------------------------------------------------
    def _point_jacobian(self, joint: int, point: np.ndarray) -> np.ndarray:
        """3x7 linear velocity Jacobian of a point fixed to the link of `joint` (revolute chain:
        column i is axis_i x (point - origin_i) for the joints up to `joint`)."""
        J = np.zeros((3, 7))
        if joint > 0:
            J[:, :joint] = _cross(self._axes[:joint], point - self._origins[:joint]).T
        return J

    def _sphere_gaps(self) -> np.ndarray:
        """Lower bound of every pair's distance from bounding spheres (cheap broad phase)."""
        if not hasattr(self, "_pair_a"):
            self._pair_a = np.array([p.body_a for p in self.pairs], dtype=int)
            self._pair_b = np.array([p.body_b for p in self.pairs], dtype=int)
            self._radius = np.array([b.radius for b in self.bodies])
            boxes = self.config.obstacles
            self._box_c = np.array([b.center for b in boxes], dtype=float).reshape(-1, 3)
            self._box_h = 0.5 * np.array([b.size for b in boxes], dtype=float).reshape(-1, 3)
            self._body_joint = np.array([b.joint for b in self.bodies])
            self._body_center = np.array([b.center for b in self.bodies])
        # Body sphere centres in base_link: R_j c + p_j for each body's joint j.
        j = self._body_joint
        centers = np.einsum("bij,bj->bi", self._joint_R[j], self._body_center) + self._joint_p[j]
        ca, ra = centers[self._pair_a], self._radius[self._pair_a]
        is_self = self._pair_b >= 0
        gaps = np.empty(len(self.pairs))
        b = self._pair_b[is_self]
        gaps[is_self] = np.linalg.norm(ca[is_self] - centers[b], axis=1) - ra[is_self] - self._radius[b]
        o = -1 - self._pair_b[~is_self]
        excess = np.maximum(np.abs(ca[~is_self] - self._box_c[o]) - self._box_h[o], 0.0)
        gaps[~is_self] = np.linalg.norm(excess, axis=1) - ra[~is_self]
        return gaps

    def proximities(self, influence: float) -> ProximityReport:
        """Distances of the checked pairs (latest update). Exact distance, witness points and
        Jacobian row only for pairs whose bounding spheres come within `influence`: only those
        enter the QP; the others report the sphere lower bound."""
        gaps = self._sphere_gaps()
        close = []
        req = coal.DistanceRequest()
        req.enable_signed_distance = True
        tf = {}
        for k in np.flatnonzero(gaps < influence):
            pair = self.pairs[k]
            A = self.bodies[pair.body_a]
            if A.joint not in tf:
                M = self.data.oMi[A.joint]
                tf[A.joint] = coal.Transform3s(M.rotation, M.translation)
            if pair.body_b >= 0:
                B = self.bodies[pair.body_b]
                if B.joint not in tf:
                    M = self.data.oMi[B.joint]
                    tf[B.joint] = coal.Transform3s(M.rotation, M.translation)
                tb, shape_b = tf[B.joint], B.hull
            else:
                tb, shape_b = self._obstacle_tf[-1 - pair.body_b], self._obstacle_shapes[-1 - pair.body_b]
            res = coal.DistanceResult()
            d = coal.distance(A.hull, tf[A.joint], shape_b, tb, req, res)
            gaps[k] = d
            if d >= influence:
                continue
            pa, pb = res.getNearestPoint1(), res.getNearestPoint2()
            n = res.normal                     # unit, from a towards b (also when penetrating)
            row = -n @ self._point_jacobian(A.joint, pa)
            if pair.body_b >= 0:
                row += n @ self._point_jacobian(self.bodies[pair.body_b].joint, pb)
            close.append(Proximity(pair.name, float(d), row, pa, pb))
        return ProximityReport(gaps, close)

    def clamp_to_limits(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.lower, self.upper)
