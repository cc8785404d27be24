"""Core tests of the MuJoCo world (no ROS): kinematics agree with the WBC's Pinocchio model,
servos track, the gripper holds what it grasps, the cameras render what is there."""

from __future__ import annotations

import mujoco
import numpy as np
import pinocchio as pin
import pytest

from gr2_drivers.sim.expert import ScriptedExpert
from gr2_drivers.sim.world import JointCommandError, World


@pytest.fixture(scope="module")
def world():
    return World()


def pinocchio_tcp(model, data, desc, q):
    """TCP pose from Pinocchio on the same URDF (continuous joints take cos/sin)."""
    qp = pin.neutral(model)
    for i, name in enumerate(desc.arm_joints):
        joint = model.joints[model.getJointId(name)]
        if joint.nq == 2:
            qp[joint.idx_q:joint.idx_q + 2] = np.cos(q[i]), np.sin(q[i])
        else:
            qp[joint.idx_q] = q[i]
    pin.framesForwardKinematics(model, data, qp)
    flange = data.oMf[model.getFrameId(desc.flange_link)]
    tcp = pin.SE3(pin.Quaternion(desc.tcp_orientation[3], *desc.tcp_orientation[:3]).matrix(),
                  np.array(desc.tcp_position))
    return flange * tcp


def test_tcp_pose_matches_pinocchio_model_of_same_urdf(world):
    pmodel = pin.buildModelFromUrdf(str(world.desc.urdf_path))
    pdata = pmodel.createData()
    rng = np.random.default_rng(0)
    world.reset()
    worst_pos, worst_rot = 0.0, 0.0
    for _ in range(25):
        q = rng.uniform(np.maximum(world.lower, -np.pi), np.minimum(world.upper, np.pi))
        world.data.qpos[world.arm_qpos] = q
        mujoco.mj_kinematics(world.model, world.data)
        pos, quat = world.ee_pose()
        expected = pinocchio_tcp(pmodel, pdata, world.desc, q)
        rot = world.data.site_xmat[world.tcp_site].reshape(3, 3)
        worst_pos = max(worst_pos, np.linalg.norm(pos - expected.translation))
        worst_rot = max(worst_rot, np.linalg.norm(pin.log3(rot.T @ expected.rotation)))
    world.reset()
    assert worst_pos < 1e-6, worst_pos
    assert worst_rot < 1e-6, worst_rot


def test_joint_limits_come_from_urdf(world):
    pmodel = pin.buildModelFromUrdf(str(world.desc.urdf_path))
    for i, name in enumerate(world.desc.arm_joints):
        joint = pmodel.joints[pmodel.getJointId(name)]
        if joint.nq == 1:  # revolute with limits; continuous joints are unlimited in both
            assert world.limited[i]
            assert world.lower[i] == pytest.approx(pmodel.lowerPositionLimit[joint.idx_q])
            assert world.upper[i] == pytest.approx(pmodel.upperPositionLimit[joint.idx_q])
        else:
            assert not world.limited[i]
    assert world.model.opt.timestep == pytest.approx(0.002)


def test_gravity_compensated_servos_hold_home(world):
    world.reset()
    world.step(1000)  # 2 s
    assert np.max(np.abs(world.joint_positions() - np.array(world.desc.home))) < 1e-4


def test_joint_step_and_sine_tracking(world):
    """Numbers reported in SIM.md: printed with -s."""
    world.reset()
    home = np.array(world.desc.home)
    target = home.copy()
    target[1] += 0.2
    target[3] += 0.2
    world.set_joint_command(target)
    errors = []
    for _ in range(500):  # 1 s
        world.step(1)
        errors.append(np.abs(world.joint_positions() - target).max())
    settle = next(i for i, e in enumerate(errors) if all(x < 0.01 for x in errors[i:])) * 0.002
    assert errors[-1] < 2e-3
    assert settle < 0.6

    world.reset()
    amp, freq = 0.2, 0.5
    dt = 0.005
    sine_err = []
    for k in range(int(4.0 / dt)):
        t = k * dt
        q = home.copy()
        qd = np.zeros(7)
        q[[1, 3, 5]] += amp * np.sin(2 * np.pi * freq * t)
        qd[[1, 3, 5]] = amp * 2 * np.pi * freq * np.cos(2 * np.pi * freq * t)
        world.set_joint_command(q, qd)
        world.step(3 if k % 2 else 2)  # 200 Hz commands on a 2 ms step: 2.5 steps on average
        if t > 1.0:
            sine_err.append(np.abs(world.joint_positions() - q)[[1, 3, 5]].max())
    print(f"\nstep 0.2 rad: settle(<0.01 rad) {settle:.3f} s, final error {errors[-1]:.2e} rad; "
          f"sine 0.2 rad 0.5 Hz: max error {max(sine_err):.4f} rad, rms {np.sqrt(np.mean(np.square(sine_err))):.4f}")
    assert max(sine_err) < 0.02


def test_bad_joint_commands_are_rejected_and_last_command_held(world):
    world.reset()
    good = np.array(world.desc.home) + 0.05
    world.set_joint_command(good)
    bad = [good.copy() for _ in range(2)]
    bad[0][2] = np.nan
    bad[1][1] = world.upper[1] + 0.1
    for q in [*bad, good[:6]]:
        with pytest.raises(JointCommandError):
            world.set_joint_command(q)
    with pytest.raises(JointCommandError):
        world.set_joint_command(good, np.full(7, 100.0))
    np.testing.assert_array_equal(world.command_q, good)
    world.step(500)
    assert np.abs(world.joint_positions() - good).max() < 1e-3


def test_gripper_grasp_holds_cube_when_arm_lifts(world):
    world.reset("pick_cube", "simple", seed=3)
    start = world.data.body("obj0").xpos.copy()
    assert ScriptedExpert(world).run()
    # Hold the lifted cube for another second: it must stay in the closed fingers.
    world.step(500)
    tcp, _ = world.ee_pose()
    cube = world.data.body("obj0").xpos
    assert cube[2] > start[2] + 0.12
    assert np.linalg.norm(cube - tcp) < 0.03
    assert 0.3 < world.gripper_position() < 0.9  # stopped by the cube, not fully closed


def test_head_image_changes_when_object_moves(world):
    world.reset("pick_cube", "simple", seed=0)
    before = world.render("head_camera").astype(int)
    again = world.render("head_camera").astype(int)
    assert np.array_equal(before, again)
    adr = world.model.jnt_qposadr[world.model.joint("obj0/free").id]
    world.data.qpos[adr + 1] += 0.1
    mujoco.mj_forward(world.model, world.data)
    after = world.render("head_camera").astype(int)
    changed = np.any(np.abs(after - before) > 30, axis=2)
    assert 20 < changed.sum() < 0.2 * changed.size


def segmentation(world, camera):
    r = world.make_renderer(224, 224)
    r.enable_segmentation_rendering()
    r.update_scene(world.data, camera=camera, scene_option=world.render_option)
    seg = r.render()
    r.close()
    return seg


def test_wrist_camera_sees_the_gripper_fingers(world):
    world.reset()
    seg = segmentation(world, "wrist_camera")
    finger_bodies = {world.model.body(f"gripper/{side}_{part}").id
                     for side in ("left", "right") for part in ("pad", "follower")}
    geom_ids = seg[..., 0][seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM]
    on_fingers = np.isin(world.model.geom_bodyid[geom_ids], list(finger_bodies)).sum()
    assert on_fingers > 0.01 * seg.shape[0] * seg.shape[1]


def test_head_camera_intrinsics_project_objects_where_they_are_drawn(world):
    world.reset("pick_cube", "simple", seed=1)
    cam = world.model.camera("head_camera").id
    k = world.camera_intrinsics("head_camera", 224, 224)
    seg = segmentation(world, "head_camera")
    for name in ("obj0", "obj1"):
        p = world.data.body(name).xpos
        # MuJoCo camera frame: x right, y up, looking along -z; image v grows downwards.
        pc = world.data.cam_xmat[cam].reshape(3, 3).T @ (p - world.data.cam_xpos[cam])
        u = k[0, 0] * pc[0] / -pc[2] + k[0, 2]
        v = -k[1, 1] * pc[1] / -pc[2] + k[1, 2]
        geom = seg[int(v), int(u)]
        assert geom[1] == mujoco.mjtObj.mjOBJ_GEOM and world.model.geom(int(geom[0])).name == name


def test_config_sim_yaml_is_read_by_the_core():
    from gr2_drivers.sim.world import SimConfig, load_sim_config
    cfg = load_sim_config()
    assert [c.name for c in cfg.cameras] == ["head_camera", "wrist_camera"]
    assert cfg.timestep == pytest.approx(0.002)
    # The node's declared defaults (SimConfig) and config/sim.yaml describe the same cameras.
    assert cfg.cameras == SimConfig().cameras


# ---------------------------------------------------------------- robot-environment clearance
def _lowest_point_over_table(world) -> tuple[float, str]:
    """Hand check of the clearance to the table top: the lowest vertex of any checked robot geom
    (mesh vertices, box corners), the convex hulls MuJoCo collides being the hulls of those
    points, minus the table-top height. The signed distance when that point lies over the table
    and nearer to its top than to any other face (true for these poses)."""
    m, d = world.model, world.data
    top = world.desc.table_center[2] + world.desc.table_size[2] / 2
    best = (np.inf, "", None)
    for g in world.clearance_monitor.robot:
        if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = m.geom_dataid[g]
            adr, n = m.mesh_vertadr[mesh], m.mesh_vertnum[mesh]
            local = m.mesh_vert[adr:adr + n]
        else:
            assert m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX
            local = np.array(np.meshgrid(*[[-s, s] for s in m.geom_size[g]])).reshape(3, -1).T
        points = local @ d.geom_xmat[g].reshape(3, 3).T + d.geom_xpos[g]
        k = int(np.argmin(points[:, 2]))
        if points[k, 2] - top < best[0]:
            best = (points[k, 2] - top, world.clearance_monitor.names[g], points[k])
    lo = np.array(world.desc.table_center) - np.array(world.desc.table_size) / 2
    hi = np.array(world.desc.table_center) + np.array(world.desc.table_size) / 2
    assert np.all(best[2][:2] > lo[:2]) and np.all(best[2][:2] < hi[:2])  # over the table
    return best[0], best[1]


def _pose_tcp_at(world, z: float) -> None:
    """Put the arm (kinematically) where the TCP is at height z above home's x, y, pointing down."""
    from gr2_drivers.sim.ik import solve_ik
    world.reset()
    m, d = world.model, world.data
    p, _ = world.ee_pose()
    rot = d.site_xmat[world.tcp_site].reshape(3, 3).copy()
    q, residual = solve_ik(m, world.tcp_site, world.arm_qpos, world.arm_dof, world.joint_positions(),
                           np.array([p[0], p[1], z]), rot, world.lower, world.upper)
    assert residual < 1e-4
    d.qpos[world.arm_qpos] = q
    mujoco.mj_forward(m, d)   # kinematics and MuJoCo's own contacts of this pose


def test_clearance_checks_robot_against_static_environment_only(world):
    world.reset("bin_picking", "simple", seed=0)
    monitor = world.clearance_monitor
    robot = {monitor.names[g] for g in monitor.robot}
    env = {monitor.names[g] for g in monitor.env}
    assert {"half_arm_1_link", "bracelet_link", "gripper/left_pad1", "gripper/right_follower"} <= robot
    assert not {"base_link", "shoulder_link"} & robot          # they stand on the table (WBC exempts them too)
    assert {"table_top", "floor"} <= env and "backdrop" not in env   # the backdrop does not collide
    assert any(name.startswith("basket") for name in env)       # task fixtures welded to the world
    assert not any(name.startswith("obj") for name in env)      # free objects are not environment
    world.reset()


def test_clearance_at_home_matches_a_hand_check(world):
    world.reset()
    c = world.environment_clearance()
    expected, geom = _lowest_point_over_table(world)
    print(f"\nclearance at home: {c.distance * 1e3:.2f} mm ({c.robot_geom} - {c.environment_geom}); "
          f"lowest vertex above the table top: {expected * 1e3:.2f} mm ({geom})")
    assert c.distance > 0.1 and not c.in_contact
    assert c.distance == pytest.approx(expected, abs=1e-6)
    assert (c.robot_geom, c.environment_geom) == (geom, "table_top")
    assert c.environment_point[2] == pytest.approx(0.0, abs=1e-6)
    assert c.robot_point[2] - c.environment_point[2] == pytest.approx(c.distance, abs=1e-6)


def test_clearance_of_the_gripper_pushed_into_the_table(world):
    _pose_tcp_at(world, -0.01)      # TCP 1 cm below the table top: the fingertips are in it
    c = world.environment_clearance()
    expected, geom = _lowest_point_over_table(world)
    print(f"\nTCP 1 cm into the table: clearance {c.distance * 1e3:.2f} mm ({c.robot_geom}), "
          f"lowest vertex {expected * 1e3:.2f} mm ({geom}), in_contact {c.in_contact}")
    assert c.distance < 0 and c.in_contact
    assert world.clearance_monitor.contact(world.data)   # MuJoCo's own contact list has the pair
    assert c.distance == pytest.approx(expected, abs=1e-4)
    assert c.robot_geom.startswith("gripper/") and c.environment_geom == "table_top"
    _pose_tcp_at(world, 0.03)       # 3 cm above: no contact, positive and equal to the hand check
    c = world.environment_clearance()
    expected, _ = _lowest_point_over_table(world)
    assert 0 < c.distance == pytest.approx(expected, abs=1e-6) and not c.in_contact
    world.reset()


def test_clearance_window_is_the_exact_minimum_over_every_step(world):
    """The per-step update (coherent, a few narrow-phase calls) equals a brute-force minimum
    over all pairs at every step, and a window reports the smallest of its steps."""
    from gr2_drivers.sim.ik import solve_ik
    world.reset()
    m, d = world.model, world.data
    monitor = world.clearance_monitor
    p0, _ = world.ee_pose()
    rot = d.site_xmat[world.tcp_site].reshape(3, 3).copy()
    q = world.joint_positions()
    world.track_clearance = True
    try:
        world.take_clearance()
        worst, window_true, windows = 0.0, [], []
        for k in range(600):          # 1.2 s: TCP down to 5 mm above the table top and back up
            if k % 5 == 0:
                z = p0[2] + (0.005 - p0[2]) * np.sin(np.pi * k / 600)
                q, _ = solve_ik(m, world.tcp_site, world.arm_qpos, world.arm_dof, q, np.array([p0[0], p0[1], z]),
                                rot, world.lower, world.upper)
                world.set_joint_command(q)
            world.step(1)
            # geom poses in `data` after mj_step are the ones that step's collision detection used
            brute = min(mujoco.mj_geomDistance(m, d, int(r), int(e), 10.0, None)
                        for r in monitor.robot for e in monitor.env)
            window_true.append(brute)
            if k % 25 == 24:          # a 50 Hz publication
                c = world.take_clearance()
                assert c.steps == 25
                worst = max(worst, abs(c.distance - min(window_true)))
                windows.append(c.distance)
                window_true = []
        cost = world.clearance_seconds / max(world.clearance_steps, 1) * 1e6
        print(f"\nclearance over 600 steps: closest {min(windows) * 1e3:.2f} mm, max error vs brute force "
              f"{worst:.1e} m; {monitor.full_measures} full measures in {monitor.updates} updates, "
              f"{cost:.1f} us per step")
        assert worst < 1e-9
        assert 0.0 < min(windows) < 0.01    # it did go close
        assert monitor.full_measures < monitor.updates / 5
    finally:
        world.track_clearance = False
        world.reset()


def test_renders_headless_without_mujoco_gl_set():
    """A host with only install/setup.bash sourced (no MUJOCO_GL, no display): the sim still
    renders a camera frame (the package chooses EGL)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY",
                                                          "WAYLAND_DISPLAY")}
    code = ("from gr2_drivers.sim.world import World, SimConfig; w = World(SimConfig()); "
            "w.reset('pick_cube', 'simple', 0); "
            "img = w.render('head_camera', 64, 64); print(img.shape, int(img.std() > 1))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(64, 64, 3) 1" in out.stdout
