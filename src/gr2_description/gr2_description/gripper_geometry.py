"""Collision geometry of the gripper at the flange, from its MuJoCo model. ROS-free.

The WBC must keep the gripper that is really mounted away from the table, not the URDF's
idea of one: the URDF's robotiq_85 fingertips end 6.5 mm above the TCP, the Menagerie 2F-85
pads (what the simulator attaches, and the shape of the real 2F-85 with its coupling plate)
4.4 mm below it.

MuJoCo parses the model (`compute_gripper_hull`); the points of every colliding geom are taken
with the fingers open, the posture in which the gripper approaches the table and the objects on
it, and their convex hull's vertices are written to a YAML file beside robot.yaml
(`python -m gr2_description.gripper_geometry`). The controller reads that file
(`load_gripper_hull`), so it does not need the simulator's engine; the file records the sha256
of the MJCF it was made from, and loading it refuses a gripper model that has changed since.
Fully closed on nothing, the 2F-85's pads swing 13 mm further down (to 17.7 mm below the TCP);
a hull covering both would keep the TCP 28 mm above the table and make 36-40 mm cubes
ungraspable. Closed on an object, the pads rest on it. Switching hulls with the gripper state is
the better model (not done yet).

MuJoCo is imported only to compute the hull: the MJCF (includes, defaults, mesh scaling and
re-centring) is only read right by MuJoCo's own compiler.
"""
from __future__ import annotations

import argparse
import hashlib
from itertools import product
from pathlib import Path

import numpy as np
import yaml

HULL_FORMAT = "gr2-gripper-hull/1"


def _colliding_geom_points(model, data) -> np.ndarray:
    """Vertices of mesh geoms, corners of boxes, corners of the bounding box for any other
    shape (conservative), in the model's world frame, i.e. the flange frame it is attached at."""
    import mujoco
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
    """(n, 3) points in the mounting frame (m) whose convex hull is the open gripper (needs MuJoCo)."""
    import mujoco
    model = mujoco.MjModel.from_xml_path(str(mjcf))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)   # qpos0: fingers open
    return _colliding_geom_points(model, data)


def compute_gripper_hull(mjcf: Path) -> np.ndarray:
    """(n, 3) vertices of the open gripper's convex hull in the mounting frame (m), sorted; needs MuJoCo.
    The same hull as `gripper_collision_points` (a hull is spanned by its vertices)."""
    from scipy.spatial import ConvexHull
    points = gripper_collision_points(mjcf)
    vertices = points[ConvexHull(points).vertices]
    return vertices[np.lexsort(vertices.T[::-1])]


def mjcf_sha256(mjcf: Path) -> str:
    """Hex sha256 of the MJCF file's bytes: the identity of the gripper model a hull was made from."""
    return hashlib.sha256(Path(mjcf).read_bytes()).hexdigest()


def write_gripper_hull(mjcf: Path, out: Path) -> np.ndarray:
    """Compute the hull of `mjcf` and write it to `out` (YAML); returns the vertices."""
    vertices = compute_gripper_hull(mjcf)
    doc = {"format": HULL_FORMAT,
           "description": "convex hull vertices of the open gripper's colliding geoms, mounting (flange) frame, m; "
                          "written by `python -m gr2_description.gripper_geometry`",
           "mjcf": Path(mjcf).name, "mjcf_sha256": mjcf_sha256(mjcf),
           "vertices": [[round(float(v), 7) for v in row] for row in vertices]}
    Path(out).write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120))
    return vertices


def load_gripper_hull(path: Path, mjcf: Path | None = None) -> np.ndarray:
    """(n, 3) hull vertices (m, mounting frame) from a file `write_gripper_hull` wrote; no MuJoCo.

    With `mjcf`, raises ValueError when that model is not the one the file was made from (the
    gripper changed: regenerate). FileNotFoundError when the file is missing.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"gripper collision hull {path} not found; write it with "
                                "`python -m gr2_description.gripper_geometry`")
    doc = yaml.safe_load(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("format") != HULL_FORMAT:
        raise ValueError(f"{path}: not a {HULL_FORMAT} file")
    if mjcf is not None and doc.get("mjcf_sha256") != mjcf_sha256(mjcf):
        raise ValueError(f"{path} was written from another version of {mjcf}; regenerate it with "
                         "`python -m gr2_description.gripper_geometry`")
    vertices = np.asarray(doc["vertices"], dtype=float)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 4:
        raise ValueError(f"{path}: vertices must be (n >= 4, 3), got {vertices.shape}")
    return vertices


def main(argv: list[str] | None = None) -> int:
    """Write the collision hull of the gripper robot.yaml names to the file robot.yaml names."""
    from .robot import load_robot_description
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--robot-config", help="robot.yaml (default: the stack's config/robot.yaml)")
    args = p.parse_args(argv)
    desc = load_robot_description(args.robot_config)
    if desc.gripper_mjcf is None or desc.gripper_collision_hull is None:
        raise SystemExit("robot.yaml names no gripper.mjcf and gripper.collision_hull")
    vertices = write_gripper_hull(desc.gripper_mjcf, desc.gripper_collision_hull)
    print(f"{len(vertices)} hull vertices of {desc.gripper_mjcf} -> {desc.gripper_collision_hull}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
