"""Unit conversions (Kinova degrees/percent vs REP-103) and the command interpolator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr2_drivers.kinova import units
from gr2_drivers.kinova.interpolation import CommandInterpolator, InterpolationConfig


def test_degree_radian_round_trip_and_wrapping():
    assert units.rad_to_kinova_deg(-math.pi / 2) == pytest.approx(270.0)
    assert units.rad_to_kinova_deg(2 * math.pi + 0.1) == pytest.approx(math.degrees(0.1))
    assert units.kinova_deg_to_rad(270.0, continuous=False, previous_rad=None) == pytest.approx(-math.pi / 2)
    # Continuous joint: 359 deg right after +0.5 deg reads as -1 deg, after 3*pi as 3*pi - ...
    assert units.kinova_deg_to_rad(359.0, True, math.radians(0.5)) == pytest.approx(math.radians(-1.0))
    assert units.kinova_deg_to_rad(179.0, True, 3 * math.pi) == pytest.approx(2 * math.pi + math.radians(179.0))


def test_gripper_percent_mapping():
    assert units.fraction_to_percent(0.25) == 25.0
    assert units.fraction_to_percent(1.7) == 100.0 and units.fraction_to_percent(-1) == 0.0
    assert units.gripper_percent_to_joint(50.0, 0.8) == pytest.approx(0.4)


def test_interpolation_is_continuous_reaches_target_then_extrapolates_and_holds():
    cfg = InterpolationConfig(command_period_s=0.005, max_extrapolation_s=0.010)
    it = CommandInterpolator(2, cfg)
    it.reset(np.zeros(2), 0.0)
    it.set_target(np.array([0.01, -0.02]), np.array([1.0, 0.0]), 0.0)
    q, v = it.sample(0.0)
    assert q == pytest.approx([0, 0]) and v == pytest.approx([0, 0])
    q_mid, _ = it.sample(0.0025)
    assert 0.0 < q_mid[0] < 0.01
    q_end, v_end = it.sample(0.005)
    assert q_end == pytest.approx([0.01, -0.02]) and v_end == pytest.approx([1.0, 0.0])
    q_ex, _ = it.sample(0.010)
    assert q_ex == pytest.approx([0.015, -0.02])          # velocity feed-forward past a late command
    q_hold, v_hold = it.sample(1.0)
    assert q_hold == pytest.approx([0.02, -0.02]) and v_hold == pytest.approx([0, 0])
    # A new command starts from the current setpoint: no jump.
    it.set_target(np.array([0.0, 0.0]), np.zeros(2), 1.0)
    assert it.sample(1.0)[0] == pytest.approx([0.02, -0.02])
