"""Action chunk -> smooth Cartesian reference, continuous with what is executing. ROS-free.

A chunking policy predicts k poses at a time, and every new chunk starts from a slightly
different place than where the previous one is heading: switching naively makes the
reference jump. Here each chunk becomes a sparse QP (OSQP) over a piecewise-constant
acceleration profile on a uniform grid that starts *at the switch instant* from the current
reference's position and velocity (equality constraints), follows the chunk's poses that
still lie in the future (the part before the switch is dropped: the chunk's stamp is the
observation time, so inference latency is compensated), minimises acceleration and its
change, and respects per-axis velocity/acceleration limits chosen so that the Euclidean
norm stays within the Cartesian limits.

Orientation: the chunk's rotations are expressed as rotation vectors in the tangent space
at the reference orientation at the switch, R(t) = R0 exp(r(t)), and r(t) is optimised
exactly like position (r(0) = 0, r'(0) = current body angular velocity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import osqp
import pinocchio as pin
from scipy import sparse

from gr2_contract.realtime import forward_osqp_interrupt


@dataclass
class TrajectoryConfig:
    """Grid step (s), Cartesian velocity/acceleration limits and the weights of the chunk QP."""
    grid_dt: float = 0.04              # s, acceleration is constant over one grid step
    max_linear_velocity: float = 0.5   # m/s, Euclidean norm bound
    max_linear_acceleration: float = 2.0
    max_angular_velocity: float = 1.5  # rad/s
    max_angular_acceleration: float = 6.0
    tracking_weight: float = 1.0       # per (m or rad)^2 at each grid point
    blend_time: float = 0.3            # s, the tracking weight ramps up over this after a switch
    acceleration_weight: float = 1e-6
    jerk_weight: float = 1e-7
    min_future_poses: int = 1          # a chunk with fewer poses left in the future is rejected
    eps: float = 1e-5                       # OSQP tolerance (with polishing)
    max_iter: int = 4000                    # caps the optimisation time of a hard chunk


@dataclass
class ChunkData:
    """An action chunk in controller terms (the node converts the message)."""
    stamp: float                       # s, observation time on the controller's clock
    dt: float
    positions: np.ndarray              # (k, 3) in base_link
    quaternions: np.ndarray            # (k, 4) x, y, z, w
    gripper: np.ndarray                # (k,)
    frame_id: str = "base_link"
    sequence: int = 0

    def times(self) -> np.ndarray:
        return self.stamp + self.dt * np.arange(1, len(self.positions) + 1)


@dataclass
class ReferenceSample:
    """The reference at one instant: TCP position (m) and rotation, linear and angular velocity."""
    position: np.ndarray
    rotation: np.ndarray               # 3x3
    linear_velocity: np.ndarray
    angular_velocity: np.ndarray       # world frame

    @property
    def pose(self) -> pin.SE3:
        return pin.SE3(self.rotation, self.position)

    @property
    def twist(self) -> np.ndarray:
        return np.concatenate([self.linear_velocity, self.angular_velocity])


class Reference:
    """Piecewise-constant acceleration profile in 6 coordinates (xyz + rotation vector at R0)."""

    def __init__(self, t0: float, h: float, p: np.ndarray, v: np.ndarray, a: np.ndarray,
                 origin: np.ndarray, R0: np.ndarray):
        self.t0, self.h = t0, h
        self.p, self.v, self.a = p, v, a            # (N+1, 6), (N+1, 6), (N, 6)
        self.origin, self.R0 = origin, R0
        self.end_time = t0 + h * (len(p) - 1)
        self.chunk: tuple[int, float] | None = None   # (sequence, observation stamp) it was optimised from

    def _coords(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        if t >= self.end_time or not len(self.a):   # after the end: hold the final pose
            return self.p[-1], np.zeros(6)
        s = max(t - self.t0, 0.0)
        j = min(int(s / self.h), len(self.a) - 1)
        tau = s - j * self.h
        return (self.p[j] + self.v[j] * tau + 0.5 * self.a[j] * tau ** 2,
                self.v[j] + self.a[j] * tau)

    def sample(self, t: float) -> ReferenceSample:
        x, xd = self._coords(t)
        r = x[3:]
        R = self.R0 @ pin.exp3(r)
        omega_body = pin.Jexp3(r) @ xd[3:]
        return ReferenceSample(self.origin + x[:3], R, xd[:3].copy(), R @ omega_body)

    def positions(self, times: np.ndarray) -> np.ndarray:
        """Reference positions at `times` (for the planned-path display)."""
        return np.array([self.origin + self._coords(t)[0][:3] for t in times])


class HoldReference(Reference):
    """Stand still at one pose (no chunk yet, or after a stop)."""

    def __init__(self, t0: float, pose: pin.SE3):
        z = np.zeros((1, 6))
        super().__init__(t0, 1.0, z, z, np.zeros((0, 6)), pose.translation.copy(), pose.rotation.copy())


def braking_reference(t0: float, state: ReferenceSample, cfg: TrajectoryConfig) -> Reference:
    """Decelerate from `state` to rest at the Cartesian acceleration limits, then hold: what the
    controller does when the chunk stream goes stale."""
    h = cfg.grid_dt
    v = np.concatenate([state.linear_velocity, state.rotation.T @ state.angular_velocity])
    t_lin = np.linalg.norm(v[:3]) / cfg.max_linear_acceleration
    t_ang = np.linalg.norm(v[3:]) / cfg.max_angular_acceleration
    n = max(1, math.ceil(max(t_lin, t_ang) / h))
    a = np.tile(-v / (n * h), (n, 1))
    p = np.zeros((n + 1, 6))
    vv = np.zeros((n + 1, 6))
    vv[0] = v
    for j in range(n):
        p[j + 1] = p[j] + vv[j] * h + 0.5 * a[j] * h * h
        vv[j + 1] = vv[j] + a[j] * h
    vv[-1] = 0.0
    return Reference(t0, h, p, vv, a, state.position.copy(), state.rotation.copy())


class ChunkRejected(ValueError):
    """A chunk the controller will not execute; str() is the reason."""


class TrajectoryOptimizer:
    """Turns action chunks into smooth References (module docstring), with cached OSQP solvers
    per grid length; `optimize` raises ChunkRejected for a chunk it cannot follow."""

    def __init__(self, config: TrajectoryConfig | None = None):
        self.cfg = config or TrajectoryConfig()
        self.last_solve_time = 0.0
        self._solvers: dict[tuple[int, bytes, int], osqp.OSQP] = {}

    def _solver(self, N: int, weights: np.ndarray, coordinate: int = 0) -> osqp.OSQP:
        """OSQP set up for an N-step grid, cached: chunks of one policy have the same length,
        so the KKT factorisation is reused and only vectors change per chunk.

        One solver per coordinate, so each warm-starts from the same coordinate of the previous
        chunk (one shared solver started x from the previous coordinate's, e.g. z's solution
        for the rotation about x). Measured once (session 4, a script not kept in the repo) on
        the 72 chunks of an untrained policy's demo bag: ADMM iterations p50 1650 -> 25, CPU
        per chunk 41.6 -> 24-29 ms (what is left are rotation coordinates of wild chunks that
        reach max_iter), largest deviation from a 1e-7-tolerance solution 4.1 -> 1.2 mm."""
        key = (N, weights.tobytes(), coordinate)
        if key in self._solvers:
            return self._solvers[key]
        cfg, h = self.cfg, self.cfg.grid_dt
        D = sparse.diags([np.ones(N - 1), -np.ones(N - 1)], [1, 0], shape=(N - 1, N))   # a_{j+1} - a_j
        P = sparse.block_diag([
            sparse.diags(weights),
            sparse.csc_matrix((N + 1, N + 1)),
            cfg.acceleration_weight * sparse.eye(N) + cfg.jerk_weight / h ** 2 * (D.T @ D),
        ], format="csc")
        n = 3 * N + 2
        Id = sparse.eye(N, N + 1, format="csc")
        S = sparse.eye(N, N + 1, k=1, format="csc")
        dyn_p = sparse.hstack([S - Id, -h * Id, -0.5 * h * h * sparse.eye(N)])
        dyn_v = sparse.hstack([sparse.csc_matrix((N, N + 1)), S - Id, -h * sparse.eye(N)])
        init = sparse.csc_matrix(([1.0, 1.0], ([0, 1], [0, N + 1])), shape=(2, n))
        bounds = sparse.hstack([sparse.csc_matrix((2 * N + 1, N + 1)), sparse.eye(2 * N + 1)])
        A = sparse.vstack([dyn_p, dyn_v, init, bounds], format="csc")
        solver = osqp.OSQP()
        m = A.shape[0]
        solver.setup(sparse.triu(P, format="csc"), np.zeros(n), A, -np.ones(m), np.ones(m),
                     eps_abs=cfg.eps, eps_rel=cfg.eps, max_iter=cfg.max_iter, polishing=True,
                     warm_starting=True, verbose=False)
        if len(self._solvers) > 48:
            self._solvers.pop(next(iter(self._solvers)))
        self._solvers[key] = solver
        return solver

    def targets(self, chunk: ChunkData, t_switch: float, R0: np.ndarray,
                origin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chunk poses after t_switch as 6-vectors (position - origin, log(R0^T R)) with times."""
        times = chunk.times()
        keep = times > t_switch + 1e-9
        if keep.sum() < self.cfg.min_future_poses:
            raise ChunkRejected(f"chunk {chunk.sequence} lies in the past: last pose at "
                                f"{times[-1] - t_switch:+.3f} s from now")
        out = []
        prev = np.zeros(3)
        for pos, quat in zip(chunk.positions[keep], chunk.quaternions[keep], strict=False):
            R = pin.Quaternion(np.asarray(quat, dtype=float)).normalized().matrix()
            r = pin.log3(R0.T @ R)
            # keep the rotation vector continuous along the chunk (log3 wraps at pi)
            angle = np.linalg.norm(r)
            if angle > 1e-9 and np.linalg.norm(r - prev) > math.pi:
                alt = r * (1 - 2 * math.pi / angle)
                r = alt if np.linalg.norm(alt - prev) < np.linalg.norm(r - prev) else r
            prev = r
            out.append(np.concatenate([pos - origin, r]))
        return times[keep], np.array(out)

    def optimize(self, chunk: ChunkData, t_switch: float, start: ReferenceSample) -> Reference:
        """The reference that is identical to `start` at `t_switch` (pose and velocity) and
        follows the future part of `chunk`."""
        cfg = self.cfg
        h = cfg.grid_dt
        R0, origin = start.rotation, start.position
        times, X = self.targets(chunk, t_switch, R0, origin)
        # the grid runs past the last pose for long enough to brake to rest there (v_N = 0 is hard)
        brake = math.ceil(math.sqrt(3) * max(cfg.max_linear_velocity / cfg.max_linear_acceleration,
                                             cfg.max_angular_velocity / cfg.max_angular_acceleration) / h)
        N = max(2, math.ceil((times[-1] - t_switch) / h - 1e-9) + brake)
        # chunk targets resampled on the grid by linear interpolation, (N+1, 6)
        grid_t = t_switch + h * np.arange(N + 1)
        tt = np.concatenate([[t_switch], times, [grid_t[-1] + 1.0]])
        XX = np.vstack([np.zeros(6), X, X[-1:]])
        target = np.column_stack([np.interp(grid_t, tt, XX[:, c]) for c in range(6)])
        # Blend: the new chunk pulls weakly right after the switch and fully after blend_time, so a
        # chunk that disagrees with the executing motion is joined smoothly rather than snapped to.
        ramp = np.clip((grid_t - t_switch) / max(cfg.blend_time, 1e-9), 0.0, 1.0) ** 2
        tracked = np.round(ramp * 1000) / 1000 * cfg.tracking_weight
        v0 = np.concatenate([start.linear_velocity, R0.T @ start.angular_velocity])

        vlim = np.array([cfg.max_linear_velocity] * 3 + [cfg.max_angular_velocity] * 3) / math.sqrt(3)
        alim = np.array([cfg.max_linear_acceleration] * 3 + [cfg.max_angular_acceleration] * 3) / math.sqrt(3)
        v0 = np.clip(v0, -vlim, vlim)   # the previous reference obeyed the same limits; guard rounding
        # Per coordinate (decoupled, same matrices for all six): [p_0..p_N, v_0..v_N, a_0..a_{N-1}]
        n = 3 * N + 2
        ip, iv, ia = 0, N + 1, 2 * N + 2
        x = np.empty((6, n))
        self.last_solve_time = 0.0
        for c in range(6):
            qv = np.concatenate([-tracked * target[:, c],
                                 np.zeros(2 * N + 1)])
            lb = np.concatenate([np.zeros(2 * N), [0.0, v0[c]],
                                 np.full(N + 1, -vlim[c]), np.full(N, -alim[c])])
            ub = np.concatenate([np.zeros(2 * N), [0.0, v0[c]],
                                 np.full(N + 1, vlim[c]), np.full(N, alim[c])])
            lb[2 * N + 2] = ub[2 * N + 2] = v0[c]   # the v_0 box equals the start velocity too
            lb[3 * N + 2] = ub[3 * N + 2] = 0.0     # at rest at the end
            solver = self._solver(N, tracked, c)
            solver.update(q=qv, l=lb, u=ub)
            res = solver.solve(raise_error=False)
            forward_osqp_interrupt(res.info.status_val)
            self.last_solve_time += res.info.run_time
            # An iteration-capped solution is still usable: it is re-integrated below from the
            # exact start with clipped accelerations, so continuity and the acceleration limits
            # hold whatever the solver's accuracy; only its optimality is approximate.
            usable = res.x is not None and np.all(np.isfinite(res.x)) and (
                "solved" in res.info.status or "maximum iterations" in res.info.status)
            if not usable:
                raise ChunkRejected(f"chunk {chunk.sequence}: trajectory optimisation {res.info.status}")
            x[c] = res.x
        p, v, a = x[:, ip:ip + N + 1].T, x[:, iv:iv + N + 1].T, x[:, ia:ia + N].T
        # Re-integrate the dynamics from the exact start so continuity does not depend on the
        # solver tolerance (the constraints already hold to eps; this removes the residual).
        a = np.clip(a, -alim, alim)
        p2 = np.zeros_like(p)
        v2 = np.zeros_like(v)
        v2[0] = v0
        for j in range(N):
            p2[j + 1] = p2[j] + v2[j] * h + 0.5 * a[j] * h * h
            v2[j + 1] = v2[j] + a[j] * h
        # the residual end velocity is solver-tolerance sized; spread its removal over the last step
        a[-1] -= v2[-1] / h
        p2[-1] -= 0.5 * v2[-1] * h
        v2[-1] = 0.0
        return Reference(t_switch, h, p2, v2, a, origin.copy(), R0.copy())


def naive_reference(chunk: ChunkData, t_switch: float, start: ReferenceSample) -> Reference:
    """Baseline for the smoothness comparison: jump straight onto the chunk's piecewise-linear
    interpolation (what executing chunks without an optimiser does)."""
    h = 0.005
    opt = TrajectoryOptimizer()
    times, X = opt.targets(chunk, t_switch, start.rotation, start.position)
    N = max(1, math.ceil((times[-1] - t_switch) / h))
    grid_t = t_switch + h * np.arange(N + 1)
    tt = np.concatenate([[t_switch], times]) if times[0] - chunk.dt < t_switch else times
    XX = np.vstack([X[:1], X]) if len(tt) > len(X) else X
    p = np.column_stack([np.interp(grid_t, tt, XX[:, c]) for c in range(6)])
    v = np.zeros_like(p)
    v[:-1] = np.diff(p, axis=0) / h
    return Reference(t_switch, h, p, v, np.zeros((N, 6)), start.position.copy(), start.rotation.copy())
