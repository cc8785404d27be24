"""Ctrl-C stops the WBC while it is busy: SIGINT alone (no SIGTERM escalation) ends the node
cleanly within seconds while chunks stream in and both OSQP threads are solving.

Why a test of its own: OSQP swaps its own SIGINT handler in around every solve, and with the
200 Hz QP and the chunk optimiser solving in two threads a Ctrl-C used to be swallowed (seen in
this project: a WBC node kept running after SIGINT). The node now takes SIGINT/SIGTERM with
sigwait (gr2_contract.shutdown_signals); this checks it through the installed executable that
`ros2 launch` and gr2-up start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

import gr2_contract as contract
from gr2_bringup.graph import resolve_graph
from gr2_bringup.up import command
from gr2_msgs.msg import ActionChunk, RobotState
from gr2_testing.messages import action_chunk
from gr2_testing.processes import wait_for

pytestmark = pytest.mark.multiprocess


def test_sigint_stops_the_wbc_while_it_optimises_chunks(node_processes):
    specs = {s.name: s for s in resolve_graph({"sim": "true"})}
    node_processes.start(command(specs["sim"]) + ["-p", "camera_rate:=2.0"], name="sim")
    rclpy.init()
    node = rclpy.create_node("wbc_shutdown_probe")
    states: list[RobotState] = []
    node.create_subscription(RobotState, contract.ROBOT_STATE, states.append, qos_profile_sensor_data)
    pub = node.create_publisher(ActionChunk, contract.ACTION_CHUNK,
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    try:
        for attempt in range(2):   # two starts: the race this guards against is timing-dependent
            wbc = node_processes.start(command(specs["wbc"]), name=f"wbc{attempt}")
            states.clear()
            def up() -> bool:  # waited for in this iteration, so `wbc` is this attempt's process
                assert wbc.poll() is None, node_processes.output(wbc)[-2000:]  # noqa: B023
                rclpy.spin_once(node, timeout_sec=0.05)
                return len(states) > 10
            wait_for(up, 60, what="/gr2/robot_state")
            p0 = states[-1].ee_pose.position
            o = states[-1].ee_pose.orientation
            t_end, seq = time.monotonic() + 3.0, 0
            while time.monotonic() < t_end:   # a fresh chunk every 0.1 s keeps the optimiser busy
                positions = [(p0.x, p0.y + 0.05 * np.sin(seq + i * 0.1), p0.z) for i in range(1, 11)]
                msg = action_chunk(node.get_clock().now().nanoseconds * 1e-9, positions, (o.x, o.y, o.z, o.w), 0.1, seq)
                pub.publish(msg)
                seq += 1
                time.sleep(0.1)
            t0 = time.monotonic()
            os.killpg(wbc.pid, signal.SIGINT)
            try:
                code = wbc.wait(5.0)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - t0
            print(f"start {attempt}: SIGINT after {seq} chunks -> exit code {code} after {took:.2f} s",
                  file=sys.stderr)
            assert code == 0, f"WBC did not exit cleanly on SIGINT (code {code}):\n" + \
                node_processes.output(wbc)[-2000:]
            assert "Traceback" not in node_processes.output(wbc)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
