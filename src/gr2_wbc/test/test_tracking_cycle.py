"""The compiled tracking cycle (gr2_wbc._cycle) fills the QP the module docstring of tracking_qp
writes down: checked here against the same formulas in numpy on Pinocchio's Python API, on
random states, and bad inputs are refused with a clear error instead of being read as garbage."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from gr2_wbc import _cycle
from gr2_wbc.config import load_controller_config
from gr2_wbc.controller import Controller


@pytest.fixture(scope="module")
def controller():
    c = Controller(load_controller_config())
    yield c
    c.close()


def random_states(robot, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    home = np.array(robot.description.home)
    target0 = robot.forward(home)
    for _ in range(n):
        q = home + rng.normal(0.0, 0.4, 7)
        target = pin.SE3(target0.rotation @ pin.exp3(rng.normal(0.0, 0.2, 3)),
                         target0.translation + rng.normal(0.0, 0.1, 3))
        yield q, rng.normal(0.0, 0.3, 7), target, rng.normal(0.0, 0.1, 6)


def test_qp_data_matches_the_formulation_in_numpy(controller):
    qp, robot, cfg = controller.qp, controller.robot, controller.qp.cfg
    W = np.diag([1.0, 1.0, 1.0] + [cfg.frame.orientation_weight] * 3)
    upper = np.triu_indices(7)
    order = np.argsort(upper[1] * 7 + upper[0], kind="stable")   # CSC: column by column
    rows_checked = 0
    for q, qd, target, twist in random_states(robot, 50):
        res = qp.solve(q, qd, target, twist, secondary=True)
        robot.update(q)
        J = robot.tcp_jacobian()
        pose = robot.tcp_pose()
        e_pos = target.translation - pose.translation
        e_rot = pose.rotation @ pin.log3(pose.rotation.T @ target.rotation)
        m, grad = robot.manipulability(J)
        scale = np.clip((m - cfg.manipulability.min) / (cfg.manipulability.floor - cfg.manipulability.min), 0.1, 1.0)
        v_des = scale * (twist + np.r_[cfg.frame.position_gain * e_pos, cfg.frame.orientation_gain * e_rot])
        P = J.T @ W @ J + cfg.regularisation.damping * np.eye(7)
        np.testing.assert_allclose(qp._P_x, P[upper][order], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(qp._q, -J.T @ W @ v_des - cfg.manipulability.weight * grad, rtol=1e-9, atol=1e-12)
        assert res.manipulability == pytest.approx(m, rel=1e-12)
        assert res.position_error == pytest.approx(np.linalg.norm(e_pos), abs=1e-12)
        A = qp._A_x.reshape(7, qp.n_rows).T          # column-major
        np.testing.assert_array_equal(A[:7], np.eye(7))
        np.testing.assert_allclose(A[7], grad, rtol=1e-9, atol=1e-12)
        # The box: within the velocity limits and one acceleration step of qd.
        lo, hi = qp._l[:7], qp._u[:7]
        assert np.all(lo <= hi + 1e-12)
        assert np.all(hi <= robot.velocity_limit + 1e-12) and np.all(lo >= -robot.velocity_limit - 1e-12)
        # Collision rows: the closest pairs' Jacobian rows, as the Python-facing report gives them.
        report = robot.proximities(cfg.collision.influence)
        assert res.min_distance == pytest.approx(report.min_distance, abs=1e-12)
        margins = qp.pair_margin
        close = sorted(report.close, key=lambda p: p.distance - margins[p.pair])[:cfg.collision.max_rows]
        for i, p in enumerate(close):
            # GJK warm-starts from the previous query, so witness points move by ~1e-9 between calls
            np.testing.assert_allclose(A[8 + i], p.jacobian, rtol=1e-6, atol=1e-7)
            rows_checked += 1
        np.testing.assert_array_equal(A[8 + len(close):], 0.0)
    assert rows_checked > 20, "the random states should bring some pairs within the influence distance"


def test_bad_inputs_are_refused_with_a_reason(controller):
    qp = controller.qp
    home = np.array(controller.robot.description.home)
    target = controller.robot.forward(home)
    with pytest.raises(ValueError, match="7 entries"):
        qp._cycle.fill(np.zeros(6), np.zeros(7), target, np.zeros(6), True)
    with pytest.raises(ValueError, match="twist_ff 6"):
        qp._cycle.fill(home, np.zeros(7), target, np.zeros(3), True)
    config = _cycle.CycleConfig()
    with pytest.raises(ValueError, match="velocity_limit"):
        _cycle.TrackingCycle(controller.robot.collision_checker, config, *[np.zeros(1)] * 6)
    with pytest.raises(TypeError):
        _cycle.CollisionChecker("not a model", None, None, None, np.zeros(1), *[np.zeros(1, np.int32)] * 4,
                                np.zeros((0, 3)), np.zeros((0, 3)))
