"""The 200 Hz tracking QP: joint velocities that follow a Cartesian reference. ROS-free.

    min_qd  || J qd - v_des ||_W^2                                    frame task
            + damping ||qd||^2                                        regularisation
            - w_m grad(m) . qd                                        manipulability task
    s.t.    joint position, velocity and acceleration limits         joint limits (rows 0-6, a box on qd)
            grad(m) . qd >= -gain_m (m - m_min)                       manipulability barrier (row 7)
            J_d qd >= -speed (d - margin) / (influence - margin)      collision barrier (rows 8..)
                                                                      for each close pair

v_des = feed-forward twist + proportional pose error. OSQP is set up once with a dense,
fixed sparsity pattern (7 variables, a fixed number of constraint rows) so each cycle only
updates values and warm-starts from the previous solution. The problem's data (kinematics,
manipulability gradient, joint box, collision rows) is filled by the compiled cycle
(cycle/tracking_cycle.cpp, gr2_wbc._cycle) on the robot model's own Pinocchio and coal objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import osqp
import pinocchio as pin
from scipy import sparse

from gr2_contract import CONTROL_RATE_HZ
from gr2_contract.realtime import forward_osqp_interrupt
from gr2_wbc import _cycle
from gr2_wbc.robot_model import RobotModel


# One sub-config per term of the QP, named after the pink concept it corresponds to (pink computes
# each term's rows in its own object; here the compiled cycle does, term by term, in
# cycle/tracking_cycle.cpp). config/wbc.yaml keeps its flat `tracking.*` names (config.py maps them).
@dataclass
class FrameTaskConfig:
    """The TCP pose task (pink: FrameTask): track the reference pose and twist,
    v_des = twist_ff + gain * pose error, cost ||J qd - v_des||_W^2 with W = diag(1, 1, 1, w, w, w)."""
    position_gain: float = 20.0          # 1/s, position error (m) -> linear velocity (m/s)
    orientation_gain: float = 20.0       # 1/s, orientation error (rad) -> angular velocity (rad/s)
    orientation_weight: float = 0.3      # w: cost of 1 rad/s of angular error relative to 1 m/s linear


@dataclass
class RegularisationConfig:
    """Tikhonov regularisation of the joint velocity (pink: solve_ik's `damping`): damping ||qd||^2."""
    damping: float = 1e-4                # per (rad/s)^2, against the task's per (m/s)^2


@dataclass
class ManipulabilityConfig:
    """The Yoshikawa measure m = sqrt(det(J J^T)) (m^3/rad^3 for the linear part): a secondary task
    that climbs it (pink: ManipulabilityTask, here a linear cost), a barrier below which the QP may
    not decrease it, and a scale on the frame task's velocity near singularities."""
    weight: float = 0.002                # secondary objective: -weight grad(m) . qd
    floor: float = 0.01                  # below this the frame task's velocity is scaled down
    min: float = 0.002                   # barrier: grad(m) . qd >= -gain (m - min)
    gain: float = 5.0                    # 1/s


@dataclass
class CollisionBarrierConfig:
    """Velocity dampers on close collision pairs (pink: barriers): for a pair at distance d < influence,
    its rate of approach is at most speed (d - margin) / (influence - margin)."""
    margin: float = 0.02                       # m, closest allowed distance between bodies
    gripper_environment_margin: float = 0.01   # m, the gripper to the table/obstacles (it grasps there)
    influence: float = 0.10                    # m, pairs closer than this enter the QP
    speed: float = 0.4                         # m/s, fastest approach allowed at the influence distance
    max_rows: int = 16                         # the closest pairs (relative to their margin) get a row


@dataclass
class JointLimitsConfig:
    """The box on qd from the position limits (pink: ConfigurationLimit, here braking before them at
    the acceleration limit), the velocity limits (VelocityLimit) and the acceleration limits from
    the previous command (AccelerationLimit). The rates come from the robot model."""
    position_margin: float = 0.01        # rad, kept from the URDF position limits


@dataclass
class SolverConfig:
    """OSQP's settings for the tracking QP."""
    eps: float = 1e-6                    # absolute and relative tolerance (1e-3 default is too loose for IK)
    max_iter: int = 400


@dataclass
class TrackingConfig:
    """The per-cycle tracking QP: its period `dt` (s; the controller sets its own period here) and
    one config per term."""
    dt: float = 1.0 / CONTROL_RATE_HZ
    frame: FrameTaskConfig = field(default_factory=FrameTaskConfig)
    regularisation: RegularisationConfig = field(default_factory=RegularisationConfig)
    manipulability: ManipulabilityConfig = field(default_factory=ManipulabilityConfig)
    collision: CollisionBarrierConfig = field(default_factory=CollisionBarrierConfig)
    joint_limits: JointLimitsConfig = field(default_factory=JointLimitsConfig)
    solver: SolverConfig = field(default_factory=SolverConfig)


@dataclass
class TrackingResult:
    """One tracking QP solve: joint velocities (rad/s), solver time (s) and status, task errors (m, rad)."""
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


def _cycle_config(robot: RobotModel, cfg: TrackingConfig, pair_margin: np.ndarray) -> _cycle.CycleConfig:
    """The compiled cycle's (flat) config, term by term, from `cfg` and the robot's limits."""
    c = _cycle.CycleConfig()
    c.dt = cfg.dt
    c.tcp_frame = robot.tcp_frame
    # frame task
    c.position_gain, c.orientation_gain = cfg.frame.position_gain, cfg.frame.orientation_gain
    c.task_weight = np.array([1.0, 1.0, 1.0] + [cfg.frame.orientation_weight] * 3)
    # regularisation
    c.damping = cfg.regularisation.damping
    # manipulability task, barrier and scale
    m = cfg.manipulability
    c.manipulability_weight, c.manipulability_floor = m.weight, m.floor
    c.manipulability_min, c.manipulability_gain = m.min, m.gain
    # joint limits: position (less the margin; +-inf for continuous joints), velocity, acceleration
    c.upper = robot.upper - cfg.joint_limits.position_margin
    c.lower = robot.lower + cfg.joint_limits.position_margin
    c.velocity_limit, c.acceleration_limit = robot.velocity_limit, robot.acceleration_limit
    # collision barrier
    c.collision_influence, c.collision_speed = cfg.collision.influence, cfg.collision.speed
    c.max_collision_rows = cfg.collision.max_rows
    c.pair_margin = pair_margin
    # barrier rows the joint box cannot satisfy are cut to what it can reach (tracking_cycle.cpp)
    c.reach_backoff = _REACH_BACKOFF
    return c


class TrackingQP:
    """Everything that does not change between cycles is built once; each cycle is one call
    into the compiled cycle, which fills preallocated arrays, and OSQP's update and solve."""

    def __init__(self, robot: RobotModel, config: TrackingConfig | None = None):
        self.robot = robot
        self.cfg = config or TrackingConfig()
        n = 7
        self.n_rows = n + 1 + self.cfg.collision.max_rows
        P_rows, P_cols, P_ptr = _dense_pattern(n, n, upper_only=True)
        A_rows, A_cols, A_ptr = _dense_pattern(self.n_rows, n)
        P0 = sparse.csc_matrix(((P_rows == P_cols).astype(float), P_rows, P_ptr), shape=(n, n))
        A0 = sparse.csc_matrix(((A_rows == A_cols).astype(float), A_rows, A_ptr), shape=(self.n_rows, n))
        wrapper = osqp.OSQP()
        wrapper.setup(P0, np.zeros(n), A0, -np.ones(self.n_rows), np.ones(self.n_rows),
                      eps_abs=self.cfg.solver.eps, eps_rel=self.cfg.solver.eps, max_iter=self.cfg.solver.max_iter,
                      warm_starting=True, polishing=False, verbose=False, adaptive_rho=True,
                      check_termination=5)
        # The extension's solver object directly: osqp's Python wrapper spends ~100 us per
        # update + solve on bookkeeping for derivatives we never take.
        self._solver = wrapper._solver
        self._wrapper = wrapper           # keeps the solver's owner alive
        # Per-cycle buffers the compiled cycle fills: A (dense, column-major: the order of the
        # CSC pattern) with the joint box, the manipulability row and the collision rows.
        self._P_x = np.zeros(P_rows.size)
        self._q = np.zeros(n)
        self._A_x = np.zeros(self.n_rows * n)
        self._l = np.zeros(self.n_rows)
        self._u = np.zeros(self.n_rows)
        self._info = np.zeros(6)
        # Closest allowed distance per collision pair (order of robot.pairs)
        collision = self.cfg.collision
        self.pair_margin = np.array([collision.gripper_environment_margin if robot.is_gripper_environment_pair(k)
                                     else collision.margin for k in range(len(robot.pairs))])
        c = _cycle_config(robot, self.cfg, self.pair_margin)
        r = robot
        self._cycle = _cycle.TrackingCycle(r.collision_checker, c, self._P_x, self._q, self._A_x, self._l, self._u,
                                           self._info)
        assert self._cycle.n_rows == self.n_rows
        self._amax_dt = r.acceleration_limit * self.cfg.dt

    def solve(self, q: np.ndarray, qd_prev: np.ndarray, target: pin.SE3,
              twist_ff: np.ndarray, secondary: bool = True) -> TrackingResult:
        """One cycle from the commanded state (q, qd_prev) towards `target` moving at
        `twist_ff` (linear, angular in base_link)."""
        lower, upper = self._l, self._u
        self._cycle.fill(np.asarray(q, dtype=float), np.asarray(qd_prev, dtype=float), target,
                         np.asarray(twist_ff, dtype=float), secondary)
        solver = self._solver
        solver.update_data_vec(q=self._q, l=lower, u=upper)
        solver.update_data_mat(P_x=self._P_x, P_i=None, A_x=self._A_x, A_i=None)
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
            qd = np.minimum(np.maximum(x, lower[:7]), upper[:7])
        m, min_distance, e_pos, e_rot, scale, _ = self._info.tolist()
        return TrackingResult(qd=qd, solve_time=solve_time, status=info.status, manipulability=m,
                              min_distance=min_distance, position_error=e_pos, orientation_error=e_rot,
                              task_scale=scale)
