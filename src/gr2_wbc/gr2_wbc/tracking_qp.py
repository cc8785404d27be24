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

from gr2_wbc import kernels
from gr2_wbc.realtime import forward_osqp_interrupt
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
    collision_margin: float = 0.02       # m, never closer than this
    gripper_environment_margin: float = 0.01   # m, the gripper to the table/obstacles (it grasps there)
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


_REACH_BACKOFF = 0.02   # fraction of a row's range over the box left free when its bound is cut to the reach
# Solutions the cycle sends (clipped to the joint box). An iterate cut off at max_iter is kept
# too: after hundreds of ADMM iterations it nearly satisfies the collision rows, which the
# deceleration fallback does not look at.
_USABLE = (int(osqp.SolverStatus.OSQP_SOLVED), int(osqp.SolverStatus.OSQP_SOLVED_INACCURATE),
           int(osqp.SolverStatus.OSQP_MAX_ITER_REACHED))
_OSQP_INFTY = 1e30


class TrackingQP:
    """Everything that does not change between cycles is built once: the per-cycle Python is
    the cycle's cost (the 7-variable solve itself takes ~30-80 us), so each cycle only fills
    preallocated arrays and hands OSQP new values."""

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
        wrapper = osqp.OSQP()
        wrapper.setup(P0, np.zeros(n), A0, -np.ones(self.n_rows), np.ones(self.n_rows),
                      eps_abs=self.cfg.eps, eps_rel=self.cfg.eps, max_iter=self.cfg.max_iter,
                      warm_starting=True, polishing=False, verbose=False, adaptive_rho=True,
                      check_termination=5)
        # The extension's solver object directly: osqp's Python wrapper spends ~100 us per
        # update + solve on bookkeeping for derivatives we never take.
        self._solver = wrapper._solver
        self._wrapper = wrapper           # keeps the solver's owner alive
        # Per-cycle buffers. A: identity (the joint box) on top, the manipulability row, then
        # collision rows; filled in column-major order, the order of the dense CSC pattern.
        self._A = np.zeros((self.n_rows, n))
        self._A[:n, :n] = np.eye(n)
        self._l = np.full(self.n_rows, -_OSQP_INFTY)
        self._u = np.full(self.n_rows, _OSQP_INFTY)
        self._W = np.array([1.0, 1.0, 1.0] + [self.cfg.orientation_weight] * 3)
        r = robot
        self._margin = np.array([self.cfg.gripper_environment_margin if r.is_gripper_environment_pair(k)
                                 else self.cfg.collision_margin for k in range(len(r.pairs))])
        self._upper = r.upper - self.cfg.position_limit_margin   # +-inf for continuous joints
        self._lower = r.lower + self.cfg.position_limit_margin
        self._amax_dt = r.acceleration_limit * self.cfg.dt
        assert self._P_rows.size == 28   # tracking_cost writes the 7x7 upper triangle column by column
        # Compile the kernels (or load them from numba's cache) with the argument types of the
        # real cycle now, not in the first control cycle.
        home = np.array(robot.description.home)
        self.solve(home, np.zeros(n), robot.forward(home), np.zeros(6))

    def velocity_bounds(self, q: np.ndarray, qd_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box on qd from velocity, acceleration and position limits (with braking distance:
        the joint must be able to stop before its limit at the acceleration limit)."""
        lo, hi = np.empty(7), np.empty(7)
        r = self.robot
        kernels.velocity_bounds(np.asarray(q, dtype=float), np.asarray(qd_prev, dtype=float), r.velocity_limit,
                                r.acceleration_limit, self._lower, self._upper, self.cfg.dt, lo, hi)
        return lo, hi

    def solve(self, q: np.ndarray, qd_prev: np.ndarray, target: pin.SE3,
              twist_ff: np.ndarray, secondary: bool = True) -> TrackingResult:
        """One cycle from the commanded state (q, qd_prev) towards `target` moving at
        `twist_ff` (linear, angular in base_link)."""
        cfg, r = self.cfg, self.robot
        r.update(q)
        J = r.tcp_jacobian()
        pose = r.tcp_pose()
        R = pose.rotation
        e_pos = target.translation - pose.translation
        e_rot = R @ pin.log3(R.T @ target.rotation)   # world frame
        m, grad_m = r.manipulability(J)
        scale = min(max((m - cfg.manipulability_min) / (cfg.manipulability_floor - cfg.manipulability_min), 0.1), 1.0)
        v_des = np.array(twist_ff, dtype=float)
        v_des[:3] += cfg.position_gain * e_pos
        v_des[3:] += cfg.orientation_gain * e_rot
        v_des *= scale
        P_upper, qv = np.empty(28), np.empty(7)
        kernels.tracking_cost(J, self._W, cfg.damping, v_des, grad_m,
                              cfg.manipulability_weight if secondary else 0.0, P_upper, qv)

        lo, hi = self.velocity_bounds(q, qd_prev)
        A, l = self._A, self._l
        l[:7], self._u[:7] = lo, hi
        A[7] = grad_m
        l[7] = -cfg.manipulability_gain * (m - cfg.manipulability_min)
        prox = r.proximities(cfg.collision_influence)
        close = sorted(prox.close, key=lambda p: p.distance - self._margin[p.pair])[:cfg.max_collision_rows]
        rows = 8 + len(close)
        for i, p in enumerate(close):
            A[8 + i] = p.jacobian
            # Velocity damper: the approach speed shrinks linearly to zero at the margin; below the
            # margin the gap must open again.
            margin = self._margin[p.pair]
            l[8 + i] = -cfg.collision_speed * (p.distance - margin) / (cfg.collision_influence - margin)
        A[rows:] = 0.0
        l[rows:] = -_OSQP_INFTY
        # A row the joint box cannot satisfy this cycle (the arm entered a damper's zone faster
        # than the damper allows, as an untrained policy's chunks do) would make the whole QP
        # infeasible, and the fallback below does not look at collisions: in the demo an arm
        # braked through 40 mm into the table that way and stayed there. Such a row asks instead
        # for (almost) the most the box allows: braking as hard as the limits permit.
        reach_hi = np.maximum(A[7:rows] * lo, A[7:rows] * hi).sum(axis=1)
        reach_lo = np.minimum(A[7:rows] * lo, A[7:rows] * hi).sum(axis=1)
        np.minimum(l[7:rows], reach_hi - _REACH_BACKOFF * (reach_hi - reach_lo), out=l[7:rows])
        solver = self._solver
        solver.update_data_vec(q=qv, l=l, u=self._u)
        solver.update_data_mat(P_x=P_upper, P_i=None, A_x=A.T.ravel(), A_i=None)
        t0 = time.perf_counter()
        solver.solve()
        solve_time = time.perf_counter() - t0
        info = solver.info
        forward_osqp_interrupt(info.status_val)
        x = solver.solution.x
        if info.status_val not in _USABLE or not np.all(np.isfinite(x)):
            # Infeasible (rows that each fit the box but not together): decelerate as fast as
            # allowed instead of sending anything the constraints did not accept.
            qd = np.clip(np.zeros(7), qd_prev - self._amax_dt, qd_prev + self._amax_dt)
        else:
            qd = np.minimum(np.maximum(x, lo), hi)
        return TrackingResult(qd=qd, solve_time=solve_time, status=info.status, manipulability=m,
                              min_distance=prox.min_distance, position_error=float(np.linalg.norm(e_pos)),
                              orientation_error=float(np.linalg.norm(e_rot)), task_scale=scale)
