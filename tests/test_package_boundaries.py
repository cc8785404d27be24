"""Package boundaries: each package imports only the workspace packages its package.xml declares.

Walks the imports (ast, also those inside functions) of the package code of every package
(src/<pkg>/<its Python packages>/, and for gr2_bringup the launch files it installs; not the
tests) and checks every import of a workspace module (gr2_*) against the package's
<depend>/<exec_depend> entries. A lookup of another workspace package's files through the ament
index (get_package_share_directory("gr2_...")) is an edge too. On top of what package.xml says,
the architecture of the README forbids some edges outright: the controller must not need the
simulator's physics engine, and neither the drivers nor the policy may pull in the controller,
nor the policy the simulator.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = sorted(p.parent for p in (ROOT / "src").glob("*/package.xml"))
WORKSPACE_PACKAGES = {p.name for p in PACKAGE_DIRS}
# Python modules installed by a ROS package of another name.
MODULE_TO_PACKAGE = {"gr2_contract": "gr2_msgs"}
# Workspace modules that no package installs: the tests' helpers.
TEST_ONLY_MODULES = {"gr2_testing"}
AMENT_LOOKUPS = {"get_package_share_directory", "get_package_prefix"}

# (package, imported top-level module or package): forbidden whatever package.xml says, and why.
FORBIDDEN = {
    ("gr2_wbc", "mujoco"): "the controller uses Pinocchio; the gripper's geometry comes from gr2_description",
    ("gr2_wbc", "gr2_drivers"): "the controller must not depend on the drivers or the simulator",
    ("gr2_wbc", "gr2_policy"): "the controller must not depend on the policy",
    ("gr2_drivers", "gr2_wbc"): "the drivers must not depend on the controller",
    ("gr2_drivers", "gr2_policy"): "the drivers must not depend on the policy",
    ("gr2_policy", "gr2_wbc"): "installing the policy must not install the controller",
    ("gr2_policy", "gr2_drivers"): "the policy core must not import the simulator",
}
# Files allowed to break a FORBIDDEN rule (none today): the policy's node may need ROS-side
# pieces that the core must not; list it here with the reason if it ever does.
FORBIDDEN_EXEMPT: dict[tuple[str, str], set[str]] = {}


def _python_roots(pkg_dir: Path) -> list[Path]:
    """The Python packages a workspace package installs: its gr2_* folders with an __init__.py."""
    return [d for d in sorted(pkg_dir.iterdir())
            if d.is_dir() and d.name.startswith("gr2_") and (d / "__init__.py").is_file()]


def _code_files(pkg_dir: Path) -> list[Path]:
    files = [f for root in _python_roots(pkg_dir) for f in sorted(root.rglob("*.py"))]
    if pkg_dir.name == "gr2_bringup":
        files += sorted((pkg_dir / "launch").glob("*.py"))
    return files


def _edges(path: Path) -> list[tuple[int, str, str]]:
    """(line, statement, top-level module) of every absolute import and ament lookup by name."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append((node.lineno, f"import {alias.name}", alias.name.split(".")[0]))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = ", ".join(a.name for a in node.names)
            out.append((node.lineno, f"from {node.module} import {names}", node.module.split(".")[0]))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in AMENT_LOOKUPS):
            name = node.args[0].value
            if name in WORKSPACE_PACKAGES:
                out.append((node.lineno, f"{node.func.id if isinstance(node.func, ast.Name) else node.func.attr}"
                                         f"({name!r})", name))
    return out


def _declared(pkg_dir: Path) -> set[str]:
    pkg = parse_package(str(pkg_dir / "package.xml"))
    return {d.name for d in pkg.exec_depends + pkg.build_depends + pkg.buildtool_depends}


def _problems(pkg_dir: Path) -> list[str]:
    name, declared = pkg_dir.name, _declared(pkg_dir)
    problems = []
    for path in _code_files(pkg_dir):
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, statement, module in _edges(path):
            where = f"{rel}:{line}: {statement}"
            if (name, module) in FORBIDDEN and path.name not in FORBIDDEN_EXEMPT.get((name, module), ()):
                problems.append(f"{where}  -> forbidden: {FORBIDDEN[name, module]}")
                continue
            if not module.startswith("gr2_"):
                continue
            if module in TEST_ONLY_MODULES:
                problems.append(f"{where}  -> {module} is a test helper, not installed by any package")
                continue
            owner = MODULE_TO_PACKAGE.get(module, module)
            if owner not in WORKSPACE_PACKAGES:
                problems.append(f"{where}  -> no workspace package provides {module}")
            elif owner != name and owner not in declared:
                problems.append(f"{where}  -> {owner} is not a dependency in src/{name}/package.xml")
    return problems


@pytest.mark.parametrize("pkg_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_imports_stay_within_declared_dependencies(pkg_dir):
    problems = _problems(pkg_dir)
    assert not problems, (f"{pkg_dir.name}: {len(problems)} import edge(s) against its package.xml or the "
                          "architecture (file:line: import  -> what is missing or why it is forbidden):\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("pkg_dir", PACKAGE_DIRS, ids=lambda p: p.name)
def test_package_xml_declares_no_forbidden_dependency(pkg_dir):
    declared = _declared(pkg_dir)
    bad = [f"src/{pkg_dir.name}/package.xml: depends on {dep}  -> {why}"
           for (pkg, dep), why in FORBIDDEN.items() if pkg == pkg_dir.name and dep in declared]
    assert not bad, "\n".join(bad)


def test_workspace_dependency_graph_is_acyclic():
    graph = {p.name: _declared(p) & WORKSPACE_PACKAGES for p in PACKAGE_DIRS}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, "dependency cycle: " + " -> ".join(path + (node,))
        if node not in done:
            for dep in sorted(graph[node]):
                visit(dep, path + (node,))
            done.add(node)

    for name in sorted(graph):
        visit(name, ())


def test_the_checker_sees_lazy_imports_and_ament_lookups(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from gr2_wbc.realtime import x\n"
                      "    return get_package_share_directory('gr2_bringup')\n")
    assert sorted(module for _, _, module in _edges(source)) == ["gr2_bringup", "gr2_wbc"]


def test_installed_config_is_found_without_naming_its_package(monkeypatch):
    """gr2_contract.config_dir falls back to the folder registered under the `gr2_config` ament
    resource type (gr2_bringup's installed config/), not to a package it names."""
    from gr2_contract.config import config_dir, installed_config_dir
    monkeypatch.delenv("GR2_CONFIG_DIR", raising=False)
    monkeypatch.delenv("GR2_WORKSPACE", raising=False)
    folder = config_dir()
    assert folder == installed_config_dir()
    assert folder.parent.name == "gr2_bringup" and (folder / "robot.yaml").is_file()
