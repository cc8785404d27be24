"""Point the ROS 2 wheels' CMake exports at this interpreter's include paths.

The ros-jazzy-* wheels are built in a manylinux container and their exported CMake
targets hard-code that container's Python and NumPy include directories
(/opt/python/cp311-cp311/...). CMake refuses imported targets whose include
directories do not exist, so building any rosidl package (gr2_msgs) fails until
the paths name this venv's interpreter. Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PYTHON_ROOT = "/opt/python/cp311-cp311"
BUILD_PYTHON_INCLUDE = f"{BUILD_PYTHON_ROOT}/include/python3.11"
BUILD_NUMPY_INCLUDE = f"{BUILD_PYTHON_ROOT}/lib/python3.11/site-packages/numpy/_core/include"


def repair(prefix: Path) -> int:
    replacements = {
        BUILD_PYTHON_INCLUDE: sysconfig.get_paths()["include"],
        BUILD_NUMPY_INCLUDE: numpy.get_include(),
    }
    changed = 0
    for cmake_file in (prefix / "share").glob("*/cmake/*.cmake"):
        text = cmake_file.read_text()
        if BUILD_PYTHON_ROOT not in text:
            continue
        new = text
        for old, actual in replacements.items():
            new = new.replace(old, actual)
        if new != text:
            cmake_file.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f"repair_ros_wheel_cmake: patched {repair(prefix)} CMake files under {prefix}/share")
