"""Every package.xml is valid format 3 and its dependencies match what the package's Python imports.

ROS dependencies: each ROS package a package imports must be declared in its package.xml,
and each declared ROS dependency must be imported or started by it (launch files), so the
manifests that rosdep and colcon read stay true. Third-party Python imports must be provided by
a distribution in requirements.txt (the one dependency list for every host).
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
import yaml
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = sorted(p.parent for p in (ROOT / "src").glob("*/package.xml"))
WORKSPACE_PACKAGES = {p.name for p in PACKAGE_DIRS}
# Python modules installed by a ROS package under another name.
MODULE_TO_ROS_PACKAGE = {"gr2_contract": "gr2_msgs"}
# ROS packages that exist only on a real ROS host (not installable here), imported by launch files.
ROS_HOST_ONLY = {"launch", "launch_ros"}
# Dependencies that are needed without being imported: message runtime, test runner keys.
NOT_IMPORTED_OK = {"rosidl_default_runtime", "python3-pytest"}
# Third-party modules that no registry reachable here ships, imported lazily with a clear error.
NOT_ON_REGISTRIES = {"kortex_api"}


def _ros_packages_installed() -> set[str]:
    from ament_index_python.packages import get_packages_with_prefixes
    return set(get_packages_with_prefixes())


ROS_PACKAGES = _ros_packages_installed() | WORKSPACE_PACKAGES | ROS_HOST_ONLY


def _imports(files: list[Path]) -> set[str]:
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _code_files(pkg_dir: Path) -> list[Path]:
    files = sorted((pkg_dir / pkg_dir.name).rglob("*.py"))
    if pkg_dir.name == "gr2_msgs":
        files += sorted((pkg_dir / "gr2_contract").rglob("*.py"))
    if pkg_dir.name == "gr2_bringup":
        files += sorted((ROOT / "launch").glob("*.py"))
    return files


def _launched_packages(pkg_dir: Path) -> set[str]:
    """Packages whose executables the bring-up starts (graph.yaml, launch files)."""
    if pkg_dir.name != "gr2_bringup":
        return set()
    graph = yaml.safe_load((ROOT / "config" / "graph.yaml").read_text())
    launched = {n["package"] for n in graph["nodes"]}
    for path in (ROOT / "launch").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "package" and isinstance(node.value, ast.Constant):
                launched.add(node.value.value)
    code = "".join(p.read_text() for p in _code_files(pkg_dir))
    if '"ros2", "bag", "record"' in code:
        launched |= {"ros2bag", "rosbag2_storage_mcap"}
    return launched


def _distributions_shipping(module: str) -> set[str]:
    """Distributions that install `module` (also those under cmeel.prefix, which
    packages_distributions() does not map, e.g. pinocchio and coal)."""
    dists = {d.lower() for d in importlib.metadata.packages_distributions().get(module, [])}
    if not dists:
        wanted = (f"/{module}/__init__.py", f"/{module}.py")
        for dist in importlib.metadata.distributions():
            if any(("/" + str(f)).endswith(wanted) for f in dist.files or []):
                dists.add(dist.metadata["Name"].lower())
    return dists


def _requirement_distributions() -> set[str]:
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(line.split("==")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower())
    return names


@pytest.mark.parametrize("pkg_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_manifest_is_valid_format_3(pkg_dir):
    pkg = parse_package(str(pkg_dir / "package.xml"))
    pkg.validate()
    assert pkg.package_format == 3
    assert pkg.name == pkg_dir.name
    build_type = pkg.get_build_type()
    assert build_type == ("ament_cmake" if pkg.name == "gr2_msgs" else "ament_python")
    if build_type == "ament_python":
        assert (pkg_dir / "resource" / pkg.name).is_file(), "ament resource marker missing"
        assert (pkg_dir / "setup.cfg").is_file() and (pkg_dir / "setup.py").is_file()


@pytest.mark.parametrize("pkg_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_declared_ros_dependencies_match_imports(pkg_dir):
    pkg = parse_package(str(pkg_dir / "package.xml"))
    declared = {d.name for d in pkg.exec_depends + pkg.build_depends + pkg.buildtool_depends}
    imported = {MODULE_TO_ROS_PACKAGE.get(m, m) for m in _imports(_code_files(pkg_dir))}
    imported_ros = {m for m in imported if m in ROS_PACKAGES} - {pkg.name}
    missing = imported_ros - declared
    assert not missing, f"{pkg.name} imports ROS packages not in package.xml: {sorted(missing)}"
    if pkg.get_build_type() == "ament_cmake":
        return  # an interface package's message dependencies are used by rosidl, not imported
    unused = declared - imported_ros - _launched_packages(pkg_dir) - NOT_IMPORTED_OK
    assert not unused, f"{pkg.name} declares dependencies it neither imports nor launches: {sorted(unused)}"


@pytest.mark.parametrize("pkg_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_third_party_imports_come_from_requirements(pkg_dir):
    modules = _imports(_code_files(pkg_dir) + sorted((pkg_dir / "test").rglob("*.py")))
    third_party = {m for m in modules
                   if m not in sys.stdlib_module_names and m not in ROS_PACKAGES
                   and m not in MODULE_TO_ROS_PACKAGE and m not in NOT_ON_REGISTRIES
                   and not (pkg_dir / "test" / f"{m}.py").exists() and m != "conftest"
                   and not (ROOT / "tests" / m).is_dir()}  # the workspace's test helpers (gr2_testing)
    requirements = _requirement_distributions()
    problems = []
    for module in sorted(third_party):
        dists = _distributions_shipping(module)
        if not dists & requirements:
            problems.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    assert not problems, f"{pkg_dir.name} imports modules not provided by requirements.txt: {problems}"
