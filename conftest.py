"""Workspace-wide pytest setup: every test run gets its own ROS graph.

A random ROS_DOMAIN_ID and localhost-only discovery keep the tests off any other ROS graph
on the machine (and other test runs off ours), DDS over UDP only; ROS logs go inside build/. Set before any
test imports rclpy, and inherited by the node processes that tests start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent


def _isolate_ros_graph() -> None:
    from gr2_bringup.evaluate_graph import isolate_ros_graph
    isolate_ros_graph(udp_only=True)   # tests SIGKILL nodes: DDS over UDP only (see its docstring)
    log_dir = ROOT / "build" / "test_ros_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ["ROS_LOG_DIR"] = str(log_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Node processes started by tests import the test helpers (gr2_testing) too.
    tests_dir = str(ROOT / "tests")
    if tests_dir not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [tests_dir, os.environ.get("PYTHONPATH")]))


_isolate_ros_graph()


def pytest_report_header(config):
    return (f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} "
            f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE']}")


@pytest.fixture
def node_processes():
    """Start ROS node processes for a test and make sure they are gone afterwards.

    Usage: `proc = node_processes.start([sys.executable, "-m", "pkg.node", "--ros-args", ...])`.
    Each process gets its own process group; teardown sends SIGINT (the clean-shutdown
    path a user's Ctrl-C takes), then SIGKILL to what is left. Only processes started
    here are touched.
    """
    from gr2_testing.processes import ProcessGroup

    group = ProcessGroup(log_dir=ROOT / "build" / "test_ros_logs")
    yield group
    group.stop_all()
