"""The node graph: one description (config/graph.yaml) drives both launch paths."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gr2_bringup.graph import load_graph, parse_bool, resolve_graph
from gr2_bringup.up import command, parse_launch_arguments

ROOT = Path(__file__).resolve().parents[1]


def test_sim_and_real_graphs_differ_only_in_drivers():
    sim = {n.name: n for n in resolve_graph({"sim": "true"})}
    real = {n.name: n for n in resolve_graph({"sim": "false", "robot_ip": "10.0.0.7"})}
    assert "sim" in sim and "sim" not in real
    assert {"kinova_arm", "head_camera", "wrist_camera"} <= set(real)
    assert not {"kinova_arm", "head_camera", "wrist_camera"} & set(sim)
    assert real["kinova_arm"].parameters == {"robot_ip": "10.0.0.7"}
    common = set(sim) & set(real)
    assert "wbc" in common
    for name in common:
        assert sim[name] == real[name]


def test_every_node_has_an_installed_executable_and_parameter_files():
    for sim in ("true", "false"):
        for spec in resolve_graph({"sim": sim}):
            cmd = command(spec)  # raises when the executable is not installed
            assert Path(cmd[0]).exists()
            assert all(p.exists() for p in spec.parameter_files)
            assert cmd[cmd.index("-r") + 1] == f"__node:={spec.name}"


def test_bad_arguments_are_rejected_with_a_reason():
    with pytest.raises(ValueError, match="unknown launch argument"):
        resolve_graph({"simulation": "true"})
    with pytest.raises(ValueError, match="not a boolean"):
        resolve_graph({"sim": "maybe"})
    with pytest.raises(SystemExit, match="name:=value"):
        parse_launch_arguments(["sim=true"])
    assert parse_bool("x", "True") and not parse_bool("x", "0")


def test_launch_file_declares_the_graph_arguments():
    """robot.launch.py is written against launch_ros (not installable here): check it statically."""
    source = (ROOT / "launch" / "robot.launch.py").read_text()
    tree = ast.parse(source)
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {"launch", "launch.actions", "launch_ros.actions", "gr2_bringup.graph"} <= imported
    assert "resolve_graph(" in source and "DeclareLaunchArgument(" in source
    assert {"sim", "robot_ip", "checkpoint", "device", "rviz", "record"} <= set(load_graph()["arguments"])


def test_parts_split_the_graph_between_robot_and_inference_hosts():
    everything = {n.name for n in resolve_graph({"part": "all"})}
    robot = {n.name for n in resolve_graph({"part": "robot"})}
    inference = {n.name for n in resolve_graph({"part": "inference"})}
    assert robot | inference == everything and not robot & inference
    assert {"sim", "wbc"} <= robot
    with pytest.raises(ValueError, match="part"):
        resolve_graph({"part": "cloud"})


def test_launch_file_builds_nodes_with_launch_ros_when_available():
    launch_ros = pytest.importorskip("launch_ros", reason="launch_ros exists only on a ROS 2 host")
    from launch import LaunchContext
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    source = PythonLaunchDescriptionSource(str(ROOT / "launch" / "robot.launch.py"))
    description = source.get_launch_description(LaunchContext())
    assert description.entities and launch_ros


def test_gr2_up_dry_run_prints_one_command_per_node():
    out = subprocess.run([sys.executable, "-m", "gr2_bringup.up", "--dry-run", "sim:=true"],
                         capture_output=True, text=True, timeout=60, env=os.environ)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == len(resolve_graph({"sim": "true"}))
    assert any("/gr2_wbc/wbc_node --ros-args" in line for line in lines)
