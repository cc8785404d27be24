"""The node graph: one description (config/graph.yaml) drives both launch paths."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import gr2_contract
from gr2_bringup.graph import load_graph, parse_bool, resolve_graph
from gr2_bringup.up import check_host_tools, command, parse_launch_arguments
from gr2_contract.config import config_dir

ROOT = Path(__file__).resolve().parents[1]
RVIZ_CONFIG = ROOT / "config" / "gr2.rviz"
ROBOT_DESCRIPTION_TOPIC = "/robot_description"  # robot_state_publisher's, not part of the contract
# The display classes gr2.rviz may use: rviz_default_plugins of ROS 2 Jazzy (a typo or a ROS 1
# name such as rviz/Image would load as an error display without failing anything else).
RVIZ_DISPLAYS = {f"rviz_default_plugins/{name}" for name in
                 ("Grid", "RobotModel", "TF", "Path", "MarkerArray", "Marker", "Image", "Camera", "Axes")}


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
            prefix = spec.prefix()
            assert cmd[:len(prefix)] == prefix
            assert Path(cmd[len(prefix)]).exists()
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


def _contract_topics() -> set[str]:
    """Every topic name gr2_contract defines (module constants and the per-camera topics)."""
    topics = {v for v in vars(gr2_contract).values() if isinstance(v, str) and v.startswith("/")}
    topics |= set(gr2_contract.PREDICTED_IMAGE.values())
    topics |= {f(c) for c in gr2_contract.CAMERAS for f in (gr2_contract.image_topic, gr2_contract.camera_info_topic)}
    return topics


def _rviz_displays(displays: list[dict]) -> list[dict]:
    """Displays, flattening groups (rviz_common/Group keeps its children under Displays)."""
    flat = []
    for display in displays:
        flat += _rviz_displays(display["Displays"]) if "Displays" in display else [display]
    return flat


def _subscriptions(display: dict) -> dict[str, dict]:
    """topic -> QoS block of every topic property of a display (Topic, Description Topic, ...)."""
    return {value["Value"]: value for key, value in display.items()
            if key.endswith("Topic") and isinstance(value, dict) and "Value" in value}


def test_rviz_config_shows_the_contract_streams_with_fitting_qos():
    config = yaml.safe_load(RVIZ_CONFIG.read_text())
    assert {"Panels", "Visualization Manager", "Window Geometry"} <= set(config)
    manager = config["Visualization Manager"]
    assert {"Class", "Displays", "Global Options", "Tools", "Views"} <= set(manager)
    assert manager["Global Options"]["Fixed Frame"] == gr2_contract.BASE_FRAME
    assert all(tool["Class"].startswith("rviz_default_plugins/") for tool in manager["Tools"])
    assert manager["Views"]["Current"]["Class"].startswith("rviz_default_plugins/")

    displays = _rviz_displays(manager["Displays"])
    assert {d["Class"] for d in displays} <= RVIZ_DISPLAYS
    assert len({d["Name"] for d in displays}) == len(displays), "display names must be unique (dock titles)"
    by_topic = {topic: (d["Class"], qos) for d in displays for topic, qos in _subscriptions(d).items()}
    assert set(by_topic) <= _contract_topics() | {ROBOT_DESCRIPTION_TOPIC}, sorted(by_topic)

    images = [gr2_contract.image_topic(c) for c in gr2_contract.CAMERAS]
    images += [gr2_contract.PREDICTED_IMAGE[c] for c in gr2_contract.CAMERAS]
    expected = {**{t: "Image" for t in images}, gr2_contract.WBC_PLANNED_PATH: "Path",
                gr2_contract.WBC_MARKERS: "MarkerArray", ROBOT_DESCRIPTION_TOPIC: "RobotModel"}
    for topic, kind in expected.items():
        assert topic in by_topic, f"gr2.rviz does not show {topic}"
        cls, qos = by_topic[topic]
        assert cls == f"rviz_default_plugins/{kind}", (topic, cls)
        assert {"Depth", "Durability Policy", "History Policy", "Reliability Policy"} <= set(qos), topic
    # Images: sensor data, best effort (connects to any publisher, never queues stale frames);
    # the WBC's path and markers reliable; the URDF is published once, transient local.
    assert all(by_topic[t][1]["Reliability Policy"] == "Best Effort" for t in images)
    for topic in (gr2_contract.WBC_PLANNED_PATH, gr2_contract.WBC_MARKERS):
        assert by_topic[topic][1]["Reliability Policy"] == "Reliable"
    assert by_topic[ROBOT_DESCRIPTION_TOPIC][1]["Durability Policy"] == "Transient Local"
    assert "rviz_default_plugins/TF" in {d["Class"] for d in displays}


def test_rviz_argument_adds_robot_state_publisher_with_the_urdf_and_rviz2():
    """rviz:=true adds both nodes from graph.yaml (the one description both launch paths read)."""
    plain = {n.name for n in resolve_graph({"rviz": "false"})}
    assert not {"robot_state_publisher", "rviz2"} & plain
    nodes = {n.name: n for n in resolve_graph({"rviz": "true"})}
    assert {"robot_state_publisher", "rviz2"} <= set(nodes) and plain <= set(nodes)
    assert {"robot_state_publisher", "rviz2"} <= {n.name for n in resolve_graph({"rviz": "true", "part": "robot"})}

    rviz = nodes["rviz2"]
    assert (rviz.package, rviz.executable) == ("rviz2", "rviz2")
    assert rviz.command_args == ("-d", str(config_dir() / "gr2.rviz"))

    rsp = nodes["robot_state_publisher"]
    assert (rsp.package, rsp.executable) == ("robot_state_publisher", "robot_state_publisher")
    urdf = rsp.text_parameters["robot_description"]
    robot = ET.fromstring(urdf)
    joints = {j.get("name"): j.get("type") for j in robot.iter("joint")}
    # robot_state_publisher turns /joint_states (these names) into TF: they must be the URDF's.
    for name in (*gr2_contract.ARM_JOINTS, gr2_contract.GRIPPER_JOINT):
        assert joints.get(name) in ("revolute", "continuous"), name
    assert gr2_contract.BASE_FRAME in {link.get("name") for link in robot.iter("link")}
    for mesh in robot.iter("mesh"):  # RViz must be able to load every mesh of the model
        uri = mesh.get("filename")
        if uri.startswith("file://"):
            assert Path(uri[len("file://"):]).is_file(), uri
    # gr2-up hands the URDF over as a parameter file (too long for -p): it must round-trip.
    params = yaml.safe_load(rsp.text_parameters_yaml())
    assert params == {"/**": {"ros__parameters": {"robot_description": urdf}}}
    tail = rsp.ros_args((Path("/tmp/rsp.yaml"),))
    assert tail[tail.index("--params-file") + 1] == "/tmp/rsp.yaml"


def test_launch_file_names_no_node_of_its_own():
    """Every node comes from graph.yaml: robot.launch.py must not start a package by name."""
    tree = ast.parse((ROOT / "launch" / "robot.launch.py").read_text())
    named = [n.value.value for n in ast.walk(tree)
             if isinstance(n, ast.keyword) and n.arg == "package" and isinstance(n.value, ast.Constant)]
    assert not named


def _installed(package: str) -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        get_package_prefix(package)
    except PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(_installed("rviz2"), reason="rviz2 is installed on this host")
def test_gr2_up_rviz_without_rviz2_says_so():
    with pytest.raises(SystemExit, match="rviz:=true needs rviz2"):
        check_host_tools(resolve_graph({"rviz": "true"}))
    check_host_tools(resolve_graph({"rviz": "true", "part": "inference"}))  # no RViz on that host: fine
    out = subprocess.run([sys.executable, "-m", "gr2_bringup.up", "--dry-run", "rviz:=true"],
                         capture_output=True, text=True, timeout=60, env=os.environ)
    assert out.returncode != 0 and "rviz:=true needs rviz2" in out.stderr, out.stdout + out.stderr


def test_gr2_up_passes_the_urdf_as_a_parameter_file_rcl_reads(monkeypatch):
    """On a ROS host gr2-up starts robot_state_publisher with the URDF in a generated params file;
    rcl must read back exactly the URDF (checked here with an rclpy node given the same arguments)."""
    import rclpy
    from rclpy.node import Node

    from gr2_bringup import up
    monkeypatch.setattr(up, "executable_path", lambda spec: Path("/opt/ros/jazzy/lib") / spec.package / spec.executable)
    specs = resolve_graph({"rviz": "true"})
    graph = up.Graph(specs)
    try:
        rviz = graph.commands["rviz2"]
        assert rviz[1:4] == ["-d", str(config_dir() / "gr2.rviz"), "--ros-args"]
        rsp = graph.commands["robot_state_publisher"]
        params_file = Path(rsp[rsp.index("--params-file") + 1])
        assert params_file.is_file()
        urdf = next(s for s in specs if s.name == "robot_state_publisher").text_parameters["robot_description"]
        context = rclpy.Context()
        rclpy.init(args=rsp, context=context)
        try:
            node = Node("unnamed", context=context, automatically_declare_parameters_from_overrides=True)
            assert node.get_name() == "robot_state_publisher"
            assert node.get_parameter("robot_description").value == urdf
            node.destroy_node()
        finally:
            rclpy.shutdown(context=context)
    finally:
        graph.close()
    assert not params_file.exists(), "gr2-up must remove the generated parameter file"


def test_inference_runs_niced_so_the_robot_side_keeps_the_cpu():
    """The policy is the only CPU-hungry node without a deadline: both launch paths start it at
    a positive niceness (graph.yaml), the sim/drivers and the WBC at normal priority."""
    specs = {s.name: s for s in resolve_graph({"sim": "true"})}
    assert specs["policy"].nice > 0 and command(specs["policy"])[:3] == ["nice", "-n", str(specs["policy"].nice)]
    assert specs["sim"].nice == 0 and specs["wbc"].nice == 0
    assert "prefix=" in (ROOT / "launch" / "robot.launch.py").read_text()


def test_only_drivers_and_the_wbc_are_essential():
    """Their exit stops the graph; the policy, RViz and TF may die and be restarted
    (tests/test_graph_degradation.py runs it)."""
    assert {s.name for s in resolve_graph({"sim": "true", "rviz": "true"}) if s.essential} == {"sim", "wbc"}
    assert ({s.name for s in resolve_graph({"sim": "false"}) if s.essential}
            == {"kinova_arm", "head_camera", "wrist_camera", "wbc"})


def test_recorder_uses_ros2_bag_only_where_it_works(monkeypatch, tmp_path):
    """A `ros2` on PATH without the bag verb must not be chosen (record:=true would take the
    graph down); this workspace's writer is used instead."""
    from gr2_bringup import up
    fake = tmp_path / "ros2"
    fake.write_text("#!/bin/sh\necho \"ros2: error: invalid choice: 'bag'\" >&2\nexit 2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert not up.rosbag2_available()
    assert up.recorder_command(tmp_path / "bag")[:3] == [sys.executable, "-m", "gr2_bringup.bag.cli"]
