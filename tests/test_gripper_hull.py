"""The gripper's collision hull: the file the WBC reads is the hull MuJoCo computes from the
MJCF that robot.yaml names, and the controller does not import MuJoCo."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gr2_description.gripper_geometry import compute_gripper_hull, load_gripper_hull, write_gripper_hull
from gr2_description.robot import load_robot_description


def test_shipped_hull_is_the_hull_of_the_mounted_gripper_model():
    desc = load_robot_description()
    shipped = load_gripper_hull(desc.gripper_collision_hull, desc.gripper_mjcf)
    computed = compute_gripper_hull(desc.gripper_mjcf)
    assert shipped.shape == computed.shape
    np.testing.assert_allclose(shipped, computed, atol=1e-7)   # the file keeps 0.1 um


def test_a_changed_gripper_model_is_refused_until_the_hull_is_regenerated(tmp_path):
    desc = load_robot_description()
    mjcf = tmp_path / desc.gripper_mjcf.name
    shutil.copytree(desc.gripper_mjcf.parent, tmp_path, dirs_exist_ok=True)
    mjcf.write_text(mjcf.read_text().replace("<mujoco", "<!-- edited -->\n<mujoco", 1))
    with pytest.raises(ValueError, match="regenerate"):
        load_gripper_hull(desc.gripper_collision_hull, mjcf)
    written = write_gripper_hull(mjcf, tmp_path / "hull.yaml")
    np.testing.assert_allclose(load_gripper_hull(tmp_path / "hull.yaml", mjcf), written, atol=1e-7)
    with pytest.raises(FileNotFoundError, match="gripper_geometry"):
        load_gripper_hull(tmp_path / "missing.yaml")


def test_the_controller_does_not_import_mujoco():
    code = ("import sys; import gr2_wbc.robot_model, gr2_wbc.controller, gr2_wbc.wbc_node; "
            "from gr2_wbc.robot_model import RobotModel; "
            "robot = RobotModel.load(); assert any(b.name == 'gripper' for b in robot.bodies); "
            "print('mujoco' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
