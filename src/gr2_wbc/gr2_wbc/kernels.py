"""The numeric glue of the 200 Hz cycle, compiled with numba. ROS-free.

Pinocchio, coal and OSQP do the heavy lifting in C++; what is left between their calls is
small-array arithmetic (a 6x6 Cholesky, limit boxes, the QP's P and q, broad-phase sphere
gaps). As numpy calls that is ~150 operations of 1-3 us interpreter overhead each, and
after the loop's 4 ms sleep the interpreter's working set is cold, which doubles it: the
cycle missed its 1 ms budget on that alone. Compiled, each kernel is one call.

`cache=True` stores the machine code next to this file (or in NUMBA_CACHE_DIR) so only the
first start on a machine pays the compile time (~5 s); TrackingQP runs one solve when it is
built so that the first control cycle never does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def sphere_gaps(centers, radius, pair_a, pair_b, box_c, box_h, gaps):
    """Lower bound of each pair's distance from bounding spheres (pair_b < 0: obstacle box
    -1 - pair_b, an axis-aligned box given by centre and half size)."""
    for k in range(pair_a.shape[0]):
        a, b = pair_a[k], pair_b[k]
        s = 0.0
        if b >= 0:
            for i in range(3):
                d = centers[a, i] - centers[b, i]
                s += d * d
            gaps[k] = math.sqrt(s) - radius[a] - radius[b]
        else:
            o = -1 - b
            for i in range(3):
                d = abs(centers[a, i] - box_c[o, i]) - box_h[o, i]
                if d > 0.0:
                    s += d * d
            gaps[k] = math.sqrt(s) - radius[a]


@njit(cache=True)
def add_point_row(J0, joint, point, normal, sign, row):
    """row += sign * normal . J_point, where J_point (3x7) is the linear Jacobian of a point
    fixed to the link of `joint`: column i < joint is (spatial linear column i) + axis_i x point."""
    px, py, pz = point[0], point[1], point[2]
    nx, ny, nz = normal[0], normal[1], normal[2]
    cx, cy, cz = py * nz - pz * ny, pz * nx - px * nz, px * ny - py * nx     # point x normal
    for i in range(joint):
        row[i] += sign * (nx * J0[0, i] + ny * J0[1, i] + nz * J0[2, i]
                          + cx * J0[3, i] + cy * J0[4, i] + cz * J0[5, i])


@njit(cache=True)
def manipulability(J, grad):
    """Yoshikawa m = sqrt(det(J J^T)); writes dm/dq into grad, returns m.

    With B = (J J^T)^-1 J, a the joint axes and Jl the linear TCP columns:
    dm/dq_k = m (a_k . sum_{i>=k} v_i + Jl_k . sum_{i<k} w_i),
    v_i = a_i x B_ang,i - B_lin,i x Jl_i,  w_i = B_lin,i x a_i (revolute serial chain).
    """
    n = J.shape[1]
    A = J @ J.T
    L = np.zeros((6, 6))
    det = 1.0
    for j in range(6):                          # Cholesky A = L L^T
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if s <= 1e-30:
            grad[:] = 0.0
            return 0.0
        L[j, j] = math.sqrt(s)
        det *= s
        for i in range(j + 1, 6):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / L[j, j]
    m = math.sqrt(det)
    B = J.copy()                                # B = A^-1 J by forward and back substitution
    for c in range(n):
        for i in range(6):
            t = B[i, c]
            for k in range(i):
                t -= L[i, k] * B[k, c]
            B[i, c] = t / L[i, i]
        for i in range(5, -1, -1):
            t = B[i, c]
            for k in range(i + 1, 6):
                t -= L[k, i] * B[k, c]
            B[i, c] = t / L[i, i]
    v = np.empty((n, 3))
    w = np.empty((n, 3))
    for i in range(n):
        a0, a1, a2 = J[3, i], J[4, i], J[5, i]
        l0, l1, l2 = J[0, i], J[1, i], J[2, i]
        bl0, bl1, bl2 = B[0, i], B[1, i], B[2, i]
        ba0, ba1, ba2 = B[3, i], B[4, i], B[5, i]
        v[i, 0] = (a1 * ba2 - a2 * ba1) - (bl1 * l2 - bl2 * l1)
        v[i, 1] = (a2 * ba0 - a0 * ba2) - (bl2 * l0 - bl0 * l2)
        v[i, 2] = (a0 * ba1 - a1 * ba0) - (bl0 * l1 - bl1 * l0)
        w[i, 0] = bl1 * a2 - bl2 * a1
        w[i, 1] = bl2 * a0 - bl0 * a2
        w[i, 2] = bl0 * a1 - bl1 * a0
    vs = np.zeros(3)                            # suffix sum of v over i >= k
    ws = np.zeros(3)                            # prefix sum of w over i < k
    for k in range(n - 1, -1, -1):
        vs += v[k]
        grad[k] = J[3, k] * vs[0] + J[4, k] * vs[1] + J[5, k] * vs[2]
    for k in range(n):
        grad[k] = m * (grad[k] + J[0, k] * ws[0] + J[1, k] * ws[1] + J[2, k] * ws[2])
        ws += w[k]
    return m


@njit(cache=True)
def velocity_bounds(q, qd_prev, vmax, amax, lower, upper, dt, lo, hi):
    """Box on qd from velocity, acceleration and position limits (lower/upper already include
    the margin, +-inf for continuous joints). Near a position limit the joint must be able to
    stop before it at the acceleration limit; where that and the acceleration limit cannot
    both hold, the position limit wins (the joint brakes harder rather than crossing it)."""
    for i in range(q.shape[0]):
        l = max(-vmax[i], qd_prev[i] - amax[i] * dt)
        h = min(vmax[i], qd_prev[i] + amax[i] * dt)
        room_hi = max(upper[i] - q[i], 0.0)
        room_lo = max(q[i] - lower[i], 0.0)
        hi_pos = min(math.sqrt(2.0 * amax[i] * room_hi), room_hi / dt)
        lo_pos = -min(math.sqrt(2.0 * amax[i] * room_lo), room_lo / dt)
        h2, l2 = min(h, hi_pos), max(l, lo_pos)
        if l2 > h2:
            h2 = max(hi_pos, lo_pos)
            l2 = min(min(hi_pos, max(lo_pos, l)), h2)
        lo[i], hi[i] = l2, h2


@njit(cache=True)
def tracking_cost(J, weight, damping, v_des, grad, grad_weight, P_upper, q_lin):
    """P = J^T W J + damping I (upper triangle, column by column: OSQP's CSC order) and
    q = -J^T W v_des - grad_weight * grad."""
    n = J.shape[1]
    k = 0
    for c in range(n):
        for r in range(c + 1):
            s = 0.0
            for j in range(6):
                s += J[j, r] * weight[j] * J[j, c]
            if r == c:
                s += damping
            P_upper[k] = s
            k += 1
        s = 0.0
        for j in range(6):
            s += J[j, c] * weight[j] * v_des[j]
        q_lin[c] = -s - grad_weight * grad[c]

