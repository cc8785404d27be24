"""The CMake path repair makes the wheels' exported targets point at existing include dirs."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("repair", ROOT / "scripts" / "repair_ros_wheel_cmake.py")
repair = importlib.util.module_from_spec(spec)
spec.loader.exec_module(repair)


def test_repair_rewrites_build_paths_once(tmp_path):
    cmake = tmp_path / "share" / "demo_msgs" / "cmake" / "export.cmake"
    cmake.parent.mkdir(parents=True)
    cmake.write_text(f'INTERFACE_INCLUDE_DIRECTORIES "{repair.BUILD_PYTHON_INCLUDE};{repair.BUILD_NUMPY_INCLUDE}"\n')
    assert repair.repair(tmp_path) == 1
    text = cmake.read_text()
    assert "/opt/python" not in text
    for path in re.search(r'"(.*)"', text).group(1).split(";"):
        assert Path(path).is_dir(), path
    assert repair.repair(tmp_path) == 0  # idempotent


def test_this_venv_is_repaired():
    leftovers = [p for p in (Path(sys.prefix) / "share").glob("*/cmake/*.cmake")
                 if repair.BUILD_PYTHON_INCLUDE in p.read_text()]
    assert not leftovers, leftovers[:3]
