"""Issue 5 acceptance: a chunk whose straight path goes through the table is executed without any
robot geometry coming closer to the table than the WBC's collision margin.

Sim node and WBC node run as separate processes over DDS. This process publishes action chunks
as a policy would (stamped now, frame base_link, re-sent every 0.25 s): first chunks whose
straight Cartesian path runs from the current TCP pose straight down to 7 cm below the table top
(orientation unchanged), until the arm has come to rest against the WBC's collision constraint;
then chunks straight back up to where it started. The distance is the simulator's own: MuJoCo's
collision geometry on /gr2/sim/contacts, the minimum over every physics step (not the WBC's
estimate of it).

The WBC keeps two margins (config/wbc.yaml): tracking.collision_margin for every body, and
tracking.gripper_environment_margin for the gripper against the table (its pads must reach
objects lying there). Each report is checked against the margin of the geom it names.

History: when this test was written the sim's 2F-85 pads came to ~9 mm while the WBC believed it
kept 20 mm: the WBC built the gripper's hull from the URDF's robotiq_85 meshes, which end 6.5 mm
above the TCP, while the gripper the sim attaches (MuJoCo Menagerie 2F-85) ends 4.4 mm below it.
The WBC now takes the gripper's geometry from the same MJCF (gr2_description.gripper_geometry).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

import gr2_contract as contract
from gr2_contract.config import config_dir
from gr2_description.robot import load_robot_description
from gr2_drivers.sim.model_builder import GRIPPER_PREFIX
from gr2_msgs.msg import ActionChunk, RobotState, SimContacts, WbcStatus
from gr2_testing.messages import action_chunk
from gr2_testing.processes import wait_for

pytestmark = pytest.mark.multiprocess

WBC_CONFIG = config_dir() / "wbc.yaml"
SIM_CONFIG = config_dir() / "sim.yaml"
# The WBC's margins, read from the file the node is started with.
_PARAMS = yaml.safe_load(WBC_CONFIG.read_text())["/**"]["ros__parameters"]
MARGIN = float(_PARAMS["tracking.collision_margin"])
GRIPPER_MARGIN = float(_PARAMS["tracking.gripper_environment_margin"])




def margin_of(robot_geom: str) -> float:
    return GRIPPER_MARGIN if robot_geom.startswith(GRIPPER_PREFIX) else MARGIN


# Allowed shortfall of the sim's distance below the WBC's margin, for what legitimately differs
# between the two distance computations when both model the same geometry: the WBC's arm-link
# hulls come from the same URDF STL meshes that MuJoCo collides as convex hulls (link-table
# distances agree to 2e-7 m over 200 random configurations); the WBC constrains the joint
# positions it commands while the sim's servos lag them (< 0.004 rad measured in test_sim_node;
# # near the margin the approach is slowed to ~0); GJK tolerances (1e-6 m). Measured with the
# gripper hull from the sim's own MJCF: sim 9.49 mm, the WBC's estimate 9.68 mm, margin 10 mm.
# 2 mm covers these; it does NOT cover a different gripper geometry.
TOLERANCE = 0.002
BELOW_TABLE = 0.07          # m, how far below the table top the commanded path goes
SPEED = 0.3                 # m/s along the path
PERIOD = 0.25               # s between chunks


class Probe:
    def __init__(self):
        self.node = rclpy.create_node("table_avoidance_probe")
        self.lock = threading.Lock()
        self.states: list[RobotState] = []
        self.status: list[WbcStatus] = []
        self.contacts: list[SimContacts] = []
        n = self.node
        n.create_subscription(RobotState, contract.ROBOT_STATE, self._on(self.states), qos_profile_sensor_data)
        n.create_subscription(WbcStatus, contract.WBC_STATUS, self._on(self.status), 10)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        n.create_subscription(SimContacts, contract.SIM_CONTACTS, self._on(self.contacts), reliable)
        self.chunk_pub = n.create_publisher(ActionChunk, contract.ACTION_CHUNK, 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on(self, store: list):
        def callback(msg):
            with self.lock:
                store.append(msg)
        return callback

    def now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def line(start: np.ndarray, end: np.ndarray, dt: float) -> list[np.ndarray]:
    """Poses at dt, 2 dt, ... along the straight line start -> end at SPEED, then holding at end:
    at least 1 s of poses (the WBC's chunk_timeout), so a late next chunk does not stop the arm."""
    duration = np.linalg.norm(end - start) / SPEED
    times = dt * np.arange(1, max(int(np.ceil(duration / dt)) + 3, int(round(1.0 / dt))) + 1)
    return [start + (end - start) * min(t / duration, 1.0) for t in times]


def test_chunk_through_the_table_keeps_the_collision_margin_in_the_sim(node_processes):
    desc = load_robot_description()
    table_top = desc.table_center[2] + desc.table_size[2] / 2
    t_test = time.monotonic()
    node_processes.start([sys.executable, "-m", "gr2_drivers.sim_node", "--ros-args", "--params-file",
                          str(SIM_CONFIG), "-p", "camera_rate:=2.0"], name="sim")
    wbc = node_processes.start([sys.executable, "-m", "gr2_wbc.wbc_node", "--ros-args",
                                "--params-file", str(WBC_CONFIG)], name="wbc")
    rclpy.init()
    probe = Probe()
    try:
        wait_for(lambda: node_processes.assert_running() or len(probe.states) > 20, 60, what="/gr2/robot_state")
        wait_for(lambda: probe.status and probe.contacts, 10, what="/gr2/wbc/status and /gr2/sim/contacts")
        time.sleep(0.3)
        with probe.lock:
            first = probe.states[-1]
            accepted0, rejected0 = probe.status[-1].chunks_accepted, probe.status[-1].chunks_rejected
            probe.contacts.clear()     # from here on: the run
        p0 = np.array([first.ee_pose.position.x, first.ee_pose.position.y, first.ee_pose.position.z])
        o = first.ee_pose.orientation
        quat = (o.x, o.y, o.z, o.w)
        z_bottom = table_top - BELOW_TABLE
        bottom = np.array([p0[0], p0[1], z_bottom])
        dt, seq = 0.1, 0
        t_start = probe.now()

        def tcp() -> np.ndarray:
            with probe.lock:
                p = probe.states[-1].ee_pose.position
            return np.array([p0[0], p0[1], p.z])     # on the vertical line through the start

        def send(target: np.ndarray) -> None:
            nonlocal seq
            poses = line(tcp(), target, dt)
            probe.chunk_pub.publish(action_chunk(probe.now(), poses, quat, dt, seq))
            seq += 1
            time.sleep(PERIOD)
            node_processes.assert_running()

        # Down: every chunk's straight path goes from the TCP through the table top to 7 cm below it.
        # Until the TCP has stopped (moved < 1 mm in 0.5 s) within 5 cm of the table, or 10 s.
        heights: list[tuple[float, float]] = []
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            send(bottom)
            now, z = time.monotonic(), tcp()[2]
            heights.append((now, z))
            before = [h for t, h in heights if t <= now - 0.5]
            if z - table_top < 0.05 and before and abs(before[-1] - z) < 0.001:
                break
        t_bottom = probe.now()
        # Back up to where it started.
        deadline = time.monotonic() + 8.0
        while time.monotonic() < deadline and abs(tcp()[2] - p0[2]) > 0.005:
            send(p0)
        time.sleep(0.5)   # a few more contact reports
        node_processes.assert_running()
        sent = seq

        with probe.lock:
            states, status, contacts = list(probe.states), list(probe.status), list(probe.contacts)
        run = [s for s in states if s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 >= t_start]
        tcp_z = np.array([s.ee_pose.position.z for s in run])
        closest = min(contacts, key=lambda c: c.min_distance - margin_of(c.robot_geom))
        steps = sum(c.steps for c in contacts)
        last = status[-1]
        status_run = [s for s in status if s.header.stamp.sec + s.header.stamp.nanosec * 1e-9 >= t_start] or [last]
        print(f"\nchunk path: TCP z {p0[2]:.3f} m -> {z_bottom:.3f} m (table top {table_top:.3f} m) at {SPEED} m/s, "
              f"at rest {t_bottom - t_start:.1f} s after the first chunk, and back; {sent} chunks sent, "
              f"{last.chunks_accepted - accepted0} accepted, {last.chunks_rejected - rejected0} rejected "
              f"({last.message!r})")
        print(f"lowest TCP height {tcp_z.min() - table_top:.4f} m above the table top; sim (MuJoCo) minimum "
              f"robot-environment distance {closest.min_distance * 1e3:.2f} mm ({closest.robot_geom} - "
              f"{closest.environment_geom}, at robot point ({closest.robot_point.x:.3f}, {closest.robot_point.y:.3f}, "
              f"{closest.robot_point.z:.4f})) over {steps} physics steps in {len(contacts)} reports; "
              f"in contact: {any(c.in_contact for c in contacts)}; "
              f"WBC margin {margin_of(closest.robot_geom) * 1e3:.1f} mm, "
              f"tolerance {TOLERANCE * 1e3:.1f} mm; the WBC's own smallest min_distance in /gr2/wbc/status "
              f"(2 Hz samples) {min(s.min_distance for s in status_run) * 1e3:.2f} mm; "
              f"test wall time {time.monotonic() - t_test:.1f} s")

        # Accepted and executed. (On a 2-core machine shared with other jobs a late joint state can
        # fault the WBC for a moment and a chunk sent then is rejected; the next one is accepted.)
        assert last.chunks_accepted - accepted0 >= sent // 2, (last.chunks_accepted - accepted0, sent, last.message)
        assert any(s.mode == WbcStatus.MODE_TRACKING for s in status)
        # the arm really went down to the table (otherwise the distance check would prove nothing)
        assert tcp_z.min() - table_top < 0.05
        assert tcp_z[-1] == pytest.approx(p0[2], abs=0.01)   # and came back up
        # the distance stream was alive over the whole run (50 Hz; reliable, so no window is lost)
        assert len(contacts) > 0.5 * 50 * (probe.now() - t_start)
        assert not any(c.in_contact for c in contacts)
        margin = margin_of(closest.robot_geom)
        assert closest.min_distance >= margin - TOLERANCE, (
            f"{closest.robot_geom} came {closest.min_distance * 1e3:.2f} mm from {closest.environment_geom}: "
            f"closer than the WBC's {margin * 1e3:.0f} mm margin (minus {TOLERANCE * 1e3:.0f} mm tolerance)")
        assert closest.robot_geom.startswith(GRIPPER_PREFIX)   # the gripper led the way down
    finally:
        probe.close()
        rclpy.try_shutdown()
    assert node_processes.stop(wbc) == 0, node_processes.output(wbc)[-2000:]
