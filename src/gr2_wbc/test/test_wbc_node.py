"""wbc_node against the MuJoCo sim node: real processes, real DDS.

A pick-and-place style chunk sequence at 0.2 m/s is tracked (RMS TCP error from the sim's
joint states, via /gr2/robot_state), a bad chunk is rejected and reported, the gripper
command comes out, and /gr2/stop halts the arm within 0.5 s."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

import gr2_contract as contract
from gr2_msgs.msg import ActionChunk, GripperCommand, JointCommand, RobotState, WbcStatus
from gr2_testing.messages import action_chunk
from gr2_testing.processes import wait_for
from gr2_wbc.config import default_config_path

SIM_CONFIG = default_config_path().parent / "sim.yaml"


class Probe:
    def __init__(self):
        self.node = rclpy.create_node("wbc_test_probe")
        self.states: list[tuple[float, RobotState]] = []
        self.status: list[WbcStatus] = []
        self.grippers: list[GripperCommand] = []
        self.commands: list[float] = []
        self.joint_states: list[tuple[float, np.ndarray]] = []
        n = self.node
        n.create_subscription(RobotState, contract.ROBOT_STATE, lambda m: self.states.append((time.monotonic(), m)),
                              qos_profile_sensor_data)
        n.create_subscription(WbcStatus, contract.WBC_STATUS,
                              lambda m: self.status.append(m) or self.status_times.append(time.monotonic()),
                              contract.latched_qos())
        self.status_times: list[float] = []
        n.create_subscription(GripperCommand, contract.GRIPPER_COMMAND, self.grippers.append, 10)
        n.create_subscription(JointCommand, contract.JOINT_COMMAND, lambda m: self.commands.append(time.monotonic()),
                              qos_profile_sensor_data)
        n.create_subscription(JointState, contract.JOINT_STATES,
                              lambda m: self.joint_states.append((time.monotonic(), np.array(m.velocity[:7]))),
                              qos_profile_sensor_data)
        self.chunk_pub = n.create_publisher(ActionChunk, contract.ACTION_CHUNK, 10)
        self.instruction_pub = n.create_publisher(String, contract.INSTRUCTION, 10)
        self.stop_client = n.create_client(Trigger, contract.STOP_SERVICE)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def close(self):
        self.executor.shutdown()
        self.thread.join(timeout=5.0)   # the spin thread must be out of its wait before the node goes
        self.node.destroy_node()


def pick_place_path(p0: np.ndarray, speed: float):
    """TCP path as a function of time: down 8 cm, across 20 cm, up 8 cm, at `speed`."""
    waypoints = [p0, p0 + [0, 0, -0.08], p0 + [0, 0.2, -0.08], p0 + [0, 0.2, 0.0]]
    seg = [np.linalg.norm(b - a) for a, b in zip(waypoints, waypoints[1:], strict=False)]
    total = sum(seg) / speed

    def at(t: float) -> np.ndarray:
        s = min(max(t, 0.0), total) * speed
        for a, b, L in zip(waypoints, waypoints[1:], seg, strict=False):
            if s <= L:
                return a + (b - a) * s / L
            s -= L
        return waypoints[-1]
    return at, total


def fifo_priorities(pid: int) -> dict[int, int]:
    """Thread id -> SCHED_FIFO priority of a process's real-time threads."""
    out = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        if os.sched_getscheduler(tid) == os.SCHED_FIFO:
            out[tid] = os.sched_getparam(tid).sched_priority
    return out


def check_thread_priorities(pid: int, output: str) -> None:
    """Control thread at realtime_priority; the executor (the main thread) at support_priority,
    below it (they share the GIL: gr2_contract.realtime); the chunk optimiser process at
    optimiser_priority. Where the host forbids SCHED_FIFO the node must say so instead."""
    params = yaml.safe_load(default_config_path().read_text())["/**"]["ros__parameters"]
    fifo = fifo_priorities(pid)
    if "not available" in output:
        assert "stays at normal priority" in output and not fifo, output[-2000:]
        return
    assert fifo.get(pid) == params["support_priority"] < params["realtime_priority"], fifo
    assert max(fifo.values()) == params["realtime_priority"], fifo
    child = optimiser_child(pid)
    assert os.sched_getscheduler(child) == os.SCHED_FIFO
    assert os.sched_getparam(child).sched_priority == params["optimiser_priority"] < params["realtime_priority"]


def optimiser_child(pid: int) -> int:
    """Pid of the node's chunk optimiser process (gr2_wbc.optimiser_process)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
                cmdline = open(f"/proc/{entry}/cmdline").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "gr2_wbc.optimiser_process" in cmdline:
                return int(entry)
    raise AssertionError(f"no optimiser process under the WBC node {pid}")


@pytest.mark.multiprocess
@pytest.mark.slow
def test_closed_loop_with_the_sim(node_processes):
    node_processes.start([sys.executable, "-m", "gr2_drivers.sim_node", "--ros-args",
                                "--params-file", str(SIM_CONFIG), "-p", "camera_rate:=2.0"], name="sim")
    wbc = node_processes.start([sys.executable, "-m", "gr2_wbc.wbc_node", "--ros-args",
                                "--params-file", str(default_config_path())], name="wbc")
    rclpy.init()
    probe = Probe()
    try:
        wait_for(lambda: node_processes.assert_running() or len(probe.states) > 20, 60, what="/gr2/robot_state")
        wait_for(lambda: probe.status, 10, what="/gr2/wbc/status")
        time.sleep(0.5)
        check_thread_priorities(wbc.pid, node_processes.output(wbc))
        first = probe.states[-1][1]
        p0 = np.array([first.ee_pose.position.x, first.ee_pose.position.y, first.ee_pose.position.z])
        o = first.ee_pose.orientation
        quat = (o.x, o.y, o.z, o.w)

        # a bad chunk is rejected and reported
        probe.chunk_pub.publish(action_chunk(probe.now(), [p0] * 3, quat, 0.1, 0, frame="world"))
        wait_for(lambda: probe.status[-1].chunks_rejected >= 1, 5, what="rejection in /gr2/wbc/status")
        assert "chunk frame 'world' is not 'base_link'" in node_processes.output(wbc)

        speed, k, dt = 0.2, 10, 0.1
        path, total = pick_place_path(p0, speed)
        t_start = probe.now() + 0.1
        seq = 1
        errors = []
        while probe.now() < t_start + total + 1.0:
            stamp = probe.now()
            times = stamp + dt * np.arange(1, k + 1)
            grip = [1.0 if t - t_start > total / 2 else 0.0 for t in times]
            probe.chunk_pub.publish(action_chunk(stamp, [path(t - t_start) for t in times], quat, dt, seq, grip))
            seq += 1
            time.sleep(0.3)
            for _, st in probe.states[-60:]:
                t = st.header.stamp.sec + st.header.stamp.nanosec * 1e-9
                if t_start + 0.5 < t < t_start + total:
                    p = st.ee_pose.position
                    errors.append(np.linalg.norm(np.array([p.x, p.y, p.z]) - path(t - t_start)))
        node_processes.assert_running()
        rms = float(np.sqrt(np.mean(np.square(errors))))
        status = probe.status[-1]
        print(f"closed loop vs sim at {speed} m/s: RMS TCP error {rms * 1e3:.2f} mm over {len(errors)} samples; "
              f"WBC cycle p50 {status.cycle_p50 * 1e6:.0f} us p99 {status.cycle_p99 * 1e6:.0f} us "
              f"max {status.cycle_max * 1e6:.0f} us, deadline misses {status.deadline_misses}/{status.cycles}, "
              f"min distance {status.min_distance * 1e3:.1f} mm")
        assert any(g.position == pytest.approx(1.0) for g in probe.grippers)
        n_cmd = len([t for t in probe.commands if t > probe.commands[-1] - 2.0])
        print(f"{n_cmd} joint commands received in the last 2 s")

        # /gr2/stop while moving: at rest within 0.5 s
        far = p0 + np.array([0.0, -0.25, 0.0])

        def moving(speed: float = 0.1) -> bool:
            """Send the next chunk towards `far`; True once the arm moves faster than `speed`."""
            nonlocal seq
            seq += 1
            probe.chunk_pub.publish(action_chunk(probe.now(), [p0 + (far - p0) * i / 10 for i in range(1, 11)],
                                                 quat, 0.1, seq, [1.0] * 10))
            time.sleep(0.2)
            return bool(probe.joint_states) and np.abs(probe.joint_states[-1][1]).max() > speed
        wait_for(moving, 10, period=0.0, what="arm moving towards the stop test's target")
        assert probe.stop_client.wait_for_service(timeout_sec=5.0)
        t_stop = time.monotonic()
        future = probe.stop_client.call_async(Trigger.Request())
        wait_for(lambda: future.done(), 5, what="/gr2/stop response")
        time.sleep(1.0)
        after = [(t, np.abs(v).max()) for t, v in probe.joint_states if t > t_stop]
        moving_at_stop = max(v for t, v in after if t < t_stop + 0.05)
        rest = [t for t, v in after if v < 0.01 and all(v2 < 0.01 for t2, v2 in after if t2 >= t)]
        print(f"/gr2/stop: {moving_at_stop:.2f} rad/s at the call, at rest (< 0.01 rad/s) after "
              f"{rest[0] - t_stop:.3f} s")
        assert moving_at_stop > 0.05
        assert rest[0] - t_stop < 0.5
        # The mode change is published at once (latched), not at the 2 Hz status rate.
        stopping = [t for t, m in zip(probe.status_times, probe.status, strict=False)
                    if t > t_stop and m.mode == WbcStatus.MODE_STOPPING]
        assert stopping and stopping[0] - t_stop < 0.2, "STOPPING not reported within 0.2 s"
        assert probe.status[-1].mode == WbcStatus.MODE_STOPPED

        # The stop sticks: a policy that goes on publishing fresh chunks does not move the arm.
        t_fresh = time.monotonic()
        for _ in range(8):
            seq += 1
            probe.chunk_pub.publish(action_chunk(probe.now(), [p0 + (far - p0) * i / 10 for i in range(1, 11)],
                                                 quat, 0.1, seq, [1.0] * 10))
            time.sleep(0.1)
        time.sleep(0.3)
        peak = max(np.abs(v).max() for t, v in probe.joint_states if t > t_fresh)
        print(f"stopped, fresh chunks for 0.8 s: peak joint speed {peak:.4f} rad/s")
        assert peak < 0.01 and probe.status[-1].mode == WbcStatus.MODE_STOPPED
        # A new instruction gives chunks authority again (sequence may start over).
        probe.instruction_pub.publish(String(data="pick up the red cube"))
        seq = 0

        wait_for(lambda: moving(0.05), 10, period=0.0, what="motion after a new instruction")
        # The loop targets 200 Hz; with the sim, this test and the WBC sharing 2 cores, overrun cycles
        # are skipped (not bunched), so fewer arrive. The rate and misses are measured by
        # `make bench-wbc`; here the floor only guards against a loop that stalls.
        assert n_cmd > 0.6 * 2.0 * 200, f"{n_cmd} joint commands in 2 s"
        # The target; the sim's servo lag and a loaded CPU add to the reference lag.
        assert rms < 0.005
    finally:
        probe.close()
        rclpy.try_shutdown()
    child = optimiser_child(wbc.pid)
    assert node_processes.stop(wbc) == 0, node_processes.output(wbc)[-2000:]
    assert "Traceback" not in node_processes.output(wbc)
    # Ctrl-C reaches the whole process group; the optimiser ignores it and ends with its node.
    wait_for(lambda: not os.path.exists(f"/proc/{child}"), 5, what="the optimiser process to end with the node")
