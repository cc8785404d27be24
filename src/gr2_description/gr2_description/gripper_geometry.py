"""Collision geometry of the gripper at the flange, from its MuJoCo model. ROS-free.

The WBC must keep the gripper that is really mounted away from the table, not the URDF's
idea of one: the URDF's robotiq_85 fingertips end 6.5 mm above the TCP, the Menagerie 2F-85
pads (what the simulator attaches, and the shape of the real 2F-85 with its coupling plate)
4.4 mm below it. Found by the closed-loop table test, which measured 8.8 mm of clearance in
the sim where the WBC believed it kept 20 mm.

MuJoCo parses the model; the points of every colliding geom are taken with the fingers open,
the posture in which the gripper approaches the table and the objects on it. Fully closed on
nothing, the 2F-85's pads swing 13 mm further down (to 17.7 mm below the TCP); a hull covering
both would keep the TCP 28 mm above the table and make 36-40 mm cubes ungraspable. Closed on an
object, the pads rest on it. Switching hulls with the gripper state is the better model (not
done yet).

MuJoCo is imported here, not in gr2_wbc: the MJCF (includes, defaults, mesh scaling and
re-centring) is only read right by MuJoCo's own compiler, and keeping that in the description
package leaves the controller free of the simulator's engine.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import mujoco
import numpy as np


def _colliding_geom_points(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """Vertices of mesh geoms, corners of boxes, corners of the bounding box for any other
    shape (conservative), in the model's world frame, i.e. the flange frame it is attached at."""
    points = []
    corners = np.array(list(product((-1.0, 1.0), repeat=3)))
    for g in range(model.ngeom):
        if not (model.geom_contype[g] or model.geom_conaffinity[g]):
            continue
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = model.geom_dataid[g]
            start = model.mesh_vertadr[mesh]
            local = model.mesh_vert[start:start + model.mesh_vertnum[mesh]]
        elif model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            local = corners * model.geom_size[g]
        else:
            center, half = model.geom_aabb[g, :3], model.geom_aabb[g, 3:]
            local = center + corners * half
        R = data.geom_xmat[g].reshape(3, 3)
        points.append(local @ R.T + data.geom_xpos[g])
    if not points:
        raise ValueError("the gripper model has no colliding geoms")
    return np.vstack(points)


def gripper_collision_points(mjcf: Path) -> np.ndarray:
    """(n, 3) points in the mounting frame whose convex hull is the open gripper."""
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)   # qpos0: fingers open
    return _colliding_geom_points(model, data)
