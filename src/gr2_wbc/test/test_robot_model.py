"""Robot model: kinematics agree with the simulator, and the derivatives the QP relies on
(collision distance rows, manipulability gradient) agree with finite differences."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from gr2_description.robot import load_robot_description
from gr2_wbc.robot_model import BoxObstacle, ModelConfig, RobotModel

_DESC = load_robot_description()
TABLE = BoxObstacle("table", _DESC.table_center, _DESC.table_size)


@pytest.fixture(scope="module")
def robot() -> RobotModel:
    return RobotModel.load(ModelConfig(obstacles=(TABLE,)))


def random_configurations(robot: RobotModel, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo = np.where(np.isfinite(robot.lower), robot.lower, -np.pi)
    hi = np.where(np.isfinite(robot.upper), robot.upper, np.pi)
    return rng.uniform(lo, hi, size=(n, 7))


def test_tcp_pose_matches_the_mujoco_simulator_on_100_random_configurations(robot):
    from gr2_drivers.sim.world import World  # the sim's own MuJoCo model, built from the same URDF

    world = World()
    worst_pos = worst_rot = 0.0
    for q in random_configurations(robot, 100):
        world.data.qpos[world.arm_qpos] = q
        mujoco.mj_kinematics(world.model, world.data)
        pos, quat = world.ee_pose()
        T = robot.forward(q)
        worst_pos = max(worst_pos, float(np.linalg.norm(T.translation - pos)))
        R_sim = np.zeros(9)
        mujoco.mju_quat2Mat(R_sim, np.roll(quat, 1))
        worst_rot = max(worst_rot, float(np.linalg.norm(T.rotation - R_sim.reshape(3, 3))))
    print(f"Pinocchio vs MuJoCo TCP over 100 configurations: max position error {worst_pos:.2e} m, "
          f"max rotation-matrix error {worst_rot:.2e}")
    assert worst_pos < 1e-6
    assert worst_rot < 1e-6


def test_limits_come_from_the_urdf(robot):
    # joints 1, 3, 5, 7 of the Gen3 are continuous: no position limit
    assert np.all(np.isinf(robot.lower[[0, 2, 4, 6]])) and np.all(np.isinf(robot.upper[[0, 2, 4, 6]]))
    np.testing.assert_allclose(robot.upper[[1, 3, 5]], [2.24, 2.57, 2.09])
    np.testing.assert_allclose(robot.velocity_limit, [1.3963] * 4 + [1.2218] * 3)


def test_manipulability_gradient_matches_finite_differences(robot):
    for q in random_configurations(robot, 5, seed=1):
        robot.update(q)
        m, grad = robot.manipulability(robot.tcp_jacobian())
        fd = np.zeros(7)
        for k in range(7):
            dq = np.zeros(7)
            dq[k] = 1e-6
            robot.update(q + dq)
            J = robot.tcp_jacobian()
            fd[k] = (np.sqrt(np.linalg.det(J @ J.T)) - m) / 1e-6
        np.testing.assert_allclose(grad, fd, atol=1e-5)


def test_collision_rows_predict_the_distance_change(robot):
    rng = np.random.default_rng(2)
    checked = 0
    for q in random_configurations(robot, 20, seed=3):
        robot.update(q)
        report = robot.proximities(np.inf)
        for prox in report.close:
            if prox.distance < 0.01:
                continue   # witness points jump when shapes touch; not differentiable there
            dq = rng.normal(size=7) * 1e-6
            robot.update(q + dq)
            after = {p.name: p.distance for p in robot.proximities(np.inf).close}
            robot.update(q)
            assert after[prox.name] - prox.distance == pytest.approx(prox.jacobian @ dq, abs=2e-9)
            checked += 1
    assert checked > 50


def test_self_collision_pairs_exclude_neighbours_and_home_overlaps(robot):
    names = {p.name for p in robot.pairs}
    assert "base_link|shoulder_link" not in names        # adjacent (and the meshes overlap)
    assert "forearm_link|bracelet_link" in names
    assert "half_arm_1_link|table" in names and "base_link|table" not in names
    robot.update(np.array(robot.description.home))
    assert robot.proximities(0.1).min_distance > 0.0
