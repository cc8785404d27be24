"""Damped-least-squares inverse kinematics of the TCP on the simulator's own model.

Used by the scripted expert and the dataset generator (the WBC is the real controller; this
is the simple IK the generator needs to turn Cartesian waypoints into joint targets).
"""

from __future__ import annotations

import mujoco
import numpy as np


def quat_xyzw_to_mat(q) -> np.ndarray:
    """Rotation matrix (3, 3) of a quaternion given as (x, y, z, w)."""
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.array([q[3], q[0], q[1], q[2]], dtype=float))
    return m.reshape(3, 3)


def solve_ik(model: mujoco.MjModel, site_id: int, qpos_idx: np.ndarray, dof_idx: np.ndarray,
             q0: np.ndarray, target_pos: np.ndarray, target_rot: np.ndarray,
             lower: np.ndarray, upper: np.ndarray, iters: int = 100, damping: float = 1e-3,
             tol: float = 1e-5, scratch: mujoco.MjData | None = None) -> tuple[np.ndarray, float]:
    """Joint positions that put the site at (target_pos, target_rot); returns (q, residual norm)."""
    data = scratch or mujoco.MjData(model)
    q = np.array(q0, dtype=float)
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    err = np.zeros(6)
    for _ in range(iters):
        data.qpos[qpos_idx] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        pos = data.site_xpos[site_id]
        rot = data.site_xmat[site_id].reshape(3, 3)
        err[:3] = target_pos - pos
        # Rotation error as an axis-angle vector in the world frame.
        r_err = target_rot @ rot.T
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, r_err.ravel())
        vel = np.zeros(3)
        mujoco.mju_quat2Vel(vel, quat, 1.0)
        err[3:] = vel
        if np.linalg.norm(err) < tol:
            break
        mujoco.mj_jacSite(model, data, jacp, jacr, site_id)
        jac = np.vstack([jacp[:, dof_idx], jacr[:, dof_idx]])
        dq = jac.T @ np.linalg.solve(jac @ jac.T + damping * np.eye(6), err)
        q = np.clip(q + dq, lower, upper)
    return q, float(np.linalg.norm(err))
