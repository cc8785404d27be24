"""The 200 Hz tracking QP: joint velocities that follow a Cartesian reference. ROS-free.

    min_qd  || J qd - v_des ||_W^2 + damping ||qd||^2 - w_m grad(m) . qd
    s.t.    joint position, velocity and acceleration limits (as one box on qd),
                    velocity dampers  J_d qd >= -speed (d - margin) / (influence - margin) for close pairs,
            manipulability floor              grad(m) . qd >= -gain_m (m - m_min)

v_des = feed-forward twist + proportional pose error. OSQP is set up once with a dense,
fixed sparsity pattern (7 variables, a fixed number of constraint rows) so each cycle only
updates values and warm-starts from the previous solution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import osqp
import pinocchio as pin
from scipy import sparse

from gr2_wbc.robot_model import RobotModel


@dataclass
class TrackingConfig:
    dt: float = 0.005                    # control period, s
    position_gain: float = 20.0          # 1/s, pose error -> velocity
    orientation_gain: float = 20.0
    orientation_weight: float = 0.3      # relative to position (m vs rad)
    damping: float = 1e-4                # regularisation on qd
    manipulability_weight: float = 0.002 # secondary objective: climb the Yoshikawa measure
    manipulability_floor: float = 0.01   # below this the task velocity is scaled down
    manipulability_min: float = 0.002    # hard floor: the QP may not decrease m below this
    manipulability_gain: float = 5.0
    manipulability_every: int = 4        # cycles between gradient updates (it changes slowly; ~0.2 ms each)
    collision_margin: float = 0.02       # m, never closer than this
    collision_influence: float = 0.06    # m, pairs closer than this enter the QP
    collision_speed: float = 0.2         # m/s, fastest approach allowed at the influence distance
    max_collision_rows: int = 16
    position_limit_margin: float = 0.01  # rad, kept from the URDF limits
    eps: float = 1e-6                    # OSQP tolerances (1e-3 default is too loose for IK)
    max_iter: int = 400


@dataclass
class TrackingResult:
    qd: np.ndarray
    solve_time: float          # s, OSQP alone
    status: str
    manipulability: float
    min_distance: float
    position_error: float
    orientation_error: float
    task_scale: float


def _dense_pattern(rows: int, cols: int, upper_only: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row index, column index and CSC column pointer of a matrix whose every (upper-
    triangular) entry is stored, so values can be updated in place each cycle (OSQP keeps
    the sparsity pattern of the first setup; scipy would drop explicit zeros)."""
    r_idx, c_idx, indptr = [], [], [0]
    for c in range(cols):
        rs = range(min(c + 1, rows)) if upper_only else range(rows)
        r_idx.extend(rs)
        c_idx.extend([c] * len(rs))
        indptr.append(len(r_idx))
    return np.array(r_idx), np.array(c_idx), np.array(indptr)


class TrackingQP:
    def __init__(self, robot: RobotModel, config: TrackingConfig | None = None):
        self.robot = robot
        self.cfg = config or TrackingConfig()
        n = 7
        self.n_rows = n + 1 + self.cfg.max_collision_rows
        self._P_rows, self._P_cols, P_ptr = _dense_pattern(n, n, upper_only=True)
        self._A_rows, self._A_cols, A_ptr = _dense_pattern(self.n_rows, n)
        P0 = sparse.csc_matrix(((self._P_rows == self._P_cols).astype(float), self._P_rows, P_ptr), shape=(n, n))
        A0 = sparse.csc_matrix(((self._A_rows == self._A_cols).astype(float), self._A_rows, A_ptr),
                               shape=(self.n_rows, n))
        self._cycle = 0
        self._grad_m: np.ndarray | None = None
        self._solver = osqp.OSQP()
        self._solver.setup(P0, np.zeros(n), A0, -np.ones(self.n_rows), np.ones(self.n_rows),
                           eps_abs=self.cfg.eps, eps_rel=self.cfg.eps, max_iter=self.cfg.max_iter,
                           warm_starting=True, polishing=False, verbose=False, adaptive_rho=True,
                           check_termination=5)

    def velocity_bounds(self, q: np.ndarray, qd_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box on qd from velocity, acceleration and position limits (with braking distance:
        the joint must be able to stop before its limit at the acceleration limit)."""
        r, dt = self.robot, self.cfg.dt
        vmax, amax = r.velocity_limit, r.acceleration_limit
        lo = np.maximum(-vmax, qd_prev - amax * dt)
        hi = np.minimum(vmax, qd_prev + amax * dt)
        room_hi = r.upper - self.cfg.position_limit_margin - q
        room_lo = q - (r.lower + self.cfg.position_limit_margin)
        with np.errstate(invalid="ignore"):
            hi_pos = np.minimum(np.sqrt(2 * amax * np.maximum(room_hi, 0.0)), np.maximum(room_hi, 0.0) / dt)
            lo_pos = -np.minimum(np.sqrt(2 * amax * np.maximum(room_lo, 0.0)), np.maximum(room_lo, 0.0) / dt)
        hi_pos = np.where(np.isfinite(r.upper), hi_pos, np.inf)
        lo_pos = np.where(np.isfinite(r.lower), lo_pos, -np.inf)
        hi, lo = np.minimum(hi, hi_pos), np.maximum(lo, lo_pos)
        # Position limits win over acceleration limits when both cannot hold (a joint pushed
        # past its braking distance brakes harder rather than crossing the limit).
        bad = lo > hi
        hi = np.where(bad, np.maximum(hi_pos, lo_pos), hi)
        lo = np.where(bad, np.minimum(hi_pos, np.maximum(lo_pos, lo)), lo)
        lo = np.minimum(lo, hi)
        return lo, hi

    def solve(self, q: np.ndarray, qd_prev: np.ndarray, target: pin.SE3,
              twist_ff: np.ndarray, secondary: bool = True) -> TrackingResult:
        """One cycle from the commanded state (q, qd_prev) towards `target` moving at
        `twist_ff` (linear, angular in base_link)."""
        cfg, r = self.cfg, self.robot
        r.update(q)
        J = r.tcp_jacobian()
        pose = r.tcp_pose()
        e_pos = target.translation - pose.translation
        e_rot = pose.rotation @ pin.log3(pose.rotation.T @ target.rotation)   # world frame
        if self._cycle % cfg.manipulability_every == 0 or self._grad_m is None:
            m, self._grad_m = r.manipulability(J)
        else:
            m = float(np.sqrt(max(np.linalg.det(J @ J.T), 0.0)))
        grad_m = self._grad_m
        self._cycle += 1
        scale = float(np.clip((m - cfg.manipulability_min) /
                              (cfg.manipulability_floor - cfg.manipulability_min), 0.1, 1.0))
        v_des = np.concatenate([twist_ff[:3] + cfg.position_gain * e_pos,
                                twist_ff[3:] + cfg.orientation_gain * e_rot]) * scale
        W = np.array([1.0, 1.0, 1.0] + [cfg.orientation_weight] * 3)
        JW = J * W[:, None]
        P = J.T @ JW + cfg.damping * np.eye(7)
        qv = -(JW.T @ v_des) - (cfg.manipulability_weight * grad_m if secondary else 0.0)

        lo, hi = self.velocity_bounds(q, qd_prev)
        A = np.zeros((self.n_rows, 7))
        l = np.full(self.n_rows, -np.inf)
        u = np.full(self.n_rows, np.inf)
        A[:7, :7] = np.eye(7)
        l[:7], u[:7] = lo, hi
        A[7] = grad_m
        l[7] = -cfg.manipulability_gain * (m - cfg.manipulability_min)
        prox = r.proximities(cfg.collision_influence)
        min_d = prox.min_distance
        close = sorted(prox.close, key=lambda p: p.distance)
        for i, p in enumerate(close[:cfg.max_collision_rows]):
            A[8 + i] = p.jacobian
            # Velocity damper: the approach speed shrinks linearly to zero at the margin; below the
            # margin the gap must open again.
            l[8 + i] = -cfg.collision_speed * (p.distance - cfg.collision_margin) / \
                (cfg.collision_influence - cfg.collision_margin)
        self._solver.update(Px=P[self._P_rows, self._P_cols], q=qv,
                            Ax=A[self._A_rows, self._A_cols], l=l, u=u)
        t0 = time.perf_counter()
        res = self._solver.solve(raise_error=False)
        solve_time = time.perf_counter() - t0
        status = res.info.status
        if res.x is None or not np.all(np.isfinite(res.x)) or "solved" not in status:
            # Infeasible (e.g. a collision constraint against the acceleration box): decelerate
            # as fast as allowed instead of sending anything the constraints did not accept.
            qd = np.clip(np.zeros(7), qd_prev - r.acceleration_limit * cfg.dt,
                         qd_prev + r.acceleration_limit * cfg.dt)
        else:
            qd = np.clip(res.x, lo, hi)
        return TrackingResult(qd=qd, solve_time=solve_time, status=status, manipulability=m,
                              min_distance=float(min_d), position_error=float(np.linalg.norm(e_pos)),
                              orientation_error=float(np.linalg.norm(e_rot)), task_scale=scale)
