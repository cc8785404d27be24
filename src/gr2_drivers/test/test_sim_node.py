"""Multi-process tests of the sim node: rates measured from another process over DDS,
joint tracking through /gr2/joint_command, bad commands rejected, reset + task success,
robot-environment clearance and contact on /gr2/sim/contacts."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger

import gr2_contract as contract
from gr2_description.robot import load_robot_description
from gr2_drivers.sim_node import RESET_SERVICE, TASK_INSTRUCTION_TOPIC, TASK_SUCCESS_TOPIC
from gr2_msgs.msg import JointCommand, SimContacts
from gr2_testing.processes import wait_for

pytestmark = pytest.mark.multiprocess


def start_sim(node_processes, *params: str):
    args = [sys.executable, "-m", "gr2_drivers.sim_node", "--ros-args"]
    for p in params:
        args += ["-p", p]
    return node_processes.start(args, name="sim_node")


class Probe:
    """A client node in the test process, spun in a background thread."""

    def __init__(self, name: str):
        # Its own context: independent of whatever else in this pytest process uses rclpy.
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.stamps: dict[str, list[float]] = {}
        self.last: dict[str, object] = {}
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)

    def record(self, topic: str, msg_type, qos=qos_profile_sensor_data):
        self.stamps[topic] = []

        def callback(msg):
            with self.lock:
                self.stamps[topic].append(time.monotonic())
                self.last[topic] = msg
        self.node.create_subscription(msg_type, topic, callback, qos)

    def start(self):
        self.thread.start()
        return self

    def count(self, topic: str) -> int:
        with self.lock:
            return len(self.stamps[topic])

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def probe():
    p = Probe("sim_test_probe")
    yield p
    p.close()


def test_rates_measured_from_another_process(node_processes, probe):
    start_sim(node_processes)
    topics = {contract.JOINT_STATES: JointState}
    for cam in contract.CAMERAS:
        topics[contract.image_topic(cam)] = Image
        topics[contract.camera_info_topic(cam)] = CameraInfo
    for topic, msg_type in topics.items():
        probe.record(topic, msg_type)
    probe.record(contract.DIAGNOSTICS, DiagnosticArray, 10)
    probe.start()
    wait_for(lambda: all(probe.count(t) > 3 for t in topics), timeout=30.0, what="all sim streams")
    node_processes.assert_running()
    time.sleep(1.0)  # let start-up transients pass
    with probe.lock:
        first = {t: len(probe.stamps[t]) for t in topics}
    window = 10.0
    time.sleep(window)
    with probe.lock:
        rates = {t: (len(probe.stamps[t]) - first[t]) / window for t in topics}
        js = probe.last[contract.JOINT_STATES]
        image = probe.last[contract.image_topic(contract.HEAD_CAMERA)]
        info = probe.last[contract.camera_info_topic(contract.WRIST_CAMERA)]
        diag = {kv.key: kv.value for kv in probe.last[contract.DIAGNOSTICS].status[0].values}
    print("\nmeasured rates (Hz) over 10 s: " + ", ".join(f"{t} {r:.1f}" for t, r in rates.items())
          + f"; sim diagnostics: render {diag['render_ms_per_frame']} ms/frame, overruns {diag['deadline_overruns']}")
    assert list(js.name) == [*contract.ARM_JOINTS, contract.GRIPPER_JOINT]
    assert (image.width, image.height, image.encoding) == (224, 224, "rgb8")
    assert (info.width, info.height) == (224, 224) and info.k[0] > 0
    assert rates[contract.JOINT_STATES] >= 190.0
    for cam in contract.CAMERAS:
        assert rates[contract.image_topic(cam)] >= 25.0, cam


def _latest_joint_state(probe) -> np.ndarray:
    with probe.lock:
        return np.array(probe.last[contract.JOINT_STATES].position[:7])


def test_joint_commands_tracked_and_bad_ones_rejected(node_processes, probe):
    proc = start_sim(node_processes)
    probe.record(contract.JOINT_STATES, JointState)
    pub = probe.node.create_publisher(JointCommand, contract.JOINT_COMMAND, 10)
    probe.start()
    wait_for(lambda: probe.count(contract.JOINT_STATES) > 10 and pub.get_subscription_count() > 0,
             timeout=30.0, what="/joint_states and the command subscriber")
    home = np.array(load_robot_description().home)

    def send(q, qd=None, names=contract.ARM_JOINTS):
        msg = JointCommand(name=list(names), position=[float(x) for x in q],
                           velocity=[float(x) for x in (np.zeros(len(q)) if qd is None else qd)])
        msg.header.stamp = probe.node.get_clock().now().to_msg()
        pub.publish(msg)

    # Step of 0.2 rad on joints 2 and 4, sent at 200 Hz for 1.5 s.
    target = home.copy()
    target[[1, 3]] += 0.2
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.5:
        send(target)
        time.sleep(0.005)
    step_error = np.abs(_latest_joint_state(probe) - target).max()

    # Sine of 0.2 rad at 0.5 Hz on joints 2, 4, 6 with velocity feed-forward; error against the
    # command sent when each state arrived (includes DDS latency both ways).
    amp, w = 0.2, 2 * np.pi * 0.5
    errors = []
    t0 = time.monotonic()
    next_t = t0
    while (t := time.monotonic()) - t0 < 4.0:
        q, qd = target.copy(), np.zeros(7)
        q[[1, 3, 5]] += amp * np.sin(w * (t - t0))
        qd[[1, 3, 5]] = amp * w * np.cos(w * (t - t0))
        send(q, qd)
        if t - t0 > 1.0:
            errors.append(np.abs(_latest_joint_state(probe) - q)[[1, 3, 5]].max())
        next_t += 0.005
        time.sleep(max(0.0, next_t - time.monotonic()))
    sine_max = float(np.percentile(errors, 95))
    print(f"\nthrough /gr2/joint_command: step 0.2 rad error after 1.5 s {step_error:.2e} rad; "
          f"sine 0.2 rad 0.5 Hz: 95th-percentile error {sine_max:.4f} rad, "
          f"rms {np.sqrt(np.mean(np.square(errors))):.4f}")
    assert step_error < 5e-3
    assert sine_max < 0.05

    # Hold a known command, then send bad ones: each is rejected with an error, the arm holds.
    for _ in range(100):
        send(target)
        time.sleep(0.005)
    time.sleep(0.5)
    bad_nan = target.copy()
    bad_nan[2] = float("nan")
    bad_limit = target.copy()
    bad_limit[1] = 3.0  # joint_2 is limited to +-2.24 rad
    unknown = [*contract.ARM_JOINTS[:6], "joint_8"]
    bad_far = target.copy()
    bad_far[0] += 0.5   # within the limits, but far from where the arm is (a stale target)
    for bad in (lambda: send(bad_nan), lambda: send(bad_limit), lambda: send(bad_far),
                lambda: send(target[:6], names=contract.ARM_JOINTS[:6]), lambda: send(target, names=unknown)):
        for _ in range(20):
            bad()
            time.sleep(0.005)
        time.sleep(1.0)  # the node throttles its rejection log to one line per second
    time.sleep(0.5)
    assert np.abs(_latest_joint_state(probe) - target).max() < 5e-3
    log = node_processes.output(proc)
    for reason in ("NaN", "outside the URDF limits", "from its measured position", "expected each of 7 joints",
                   "unknown joint names"):
        assert reason in log, f"no logged rejection mentioning {reason!r}:\n{log[-3000:]}"


def test_reset_service_lays_out_task_and_publishes_success(node_processes, probe):
    start_sim(node_processes, "task:=pick_cube", "seed:=4", "camera_rate:=5.0")
    probe.record(TASK_SUCCESS_TOPIC, Bool, 10)
    probe.record(contract.JOINT_STATES, JointState)
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.record(TASK_INSTRUCTION_TOPIC, String, latched)
    client = probe.node.create_client(Trigger, RESET_SERVICE)
    pub = probe.node.create_publisher(JointCommand, contract.JOINT_COMMAND, 10)
    probe.start()
    assert client.wait_for_service(timeout_sec=30.0)
    wait_for(lambda: probe.count(contract.JOINT_STATES) > 10 and pub.get_subscription_count() > 0,
             timeout=30.0, what="/joint_states and the command subscriber")
    home = np.array(load_robot_description().home)
    away = home.copy()
    away[[0, 3]] += 0.1   # within the WBC's resync threshold: a controller would keep holding it

    def hold(q, seconds: float) -> np.ndarray:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            pub.publish(JointCommand(name=list(contract.ARM_JOINTS), position=[float(x) for x in q],
                                     velocity=[0.0] * 7))
            time.sleep(0.005)
        return _latest_joint_state(probe)

    assert np.abs(hold(away, 1.0) - away).max() < 5e-3
    future = client.call_async(Trigger.Request())
    wait_for(future.done, timeout=10.0, what="reset response")
    assert future.result().success
    assert future.result().message.startswith("pick up the ")
    # The commands meant for the pose before the reset are dropped: the arm stays home ...
    assert np.abs(hold(away, 1.0) - home).max() < 5e-3
    # ... until one at home arrives (a controller resumed from the measurement); then it follows.
    near = home.copy()
    near[0] += 0.02
    hold(home, 0.2)
    assert np.abs(hold(near, 1.0) - near).max() < 5e-3
    wait_for(lambda: probe.count(TASK_SUCCESS_TOPIC) > 2, timeout=10.0, what="success topic")
    with probe.lock:
        assert probe.last[TASK_SUCCESS_TOPIC].data is False  # nothing lifted yet
    wait_for(lambda: probe.count(TASK_INSTRUCTION_TOPIC) > 0, timeout=10.0, what="instruction")
    assert probe.last[TASK_INSTRUCTION_TOPIC].data == future.result().message
    # Real time resumes from the new sim time (no catch-up burst, no stall).
    before = probe.count(contract.JOINT_STATES)
    time.sleep(2.0)
    rate = (probe.count(contract.JOINT_STATES) - before) / 2.0
    assert 150.0 < rate < 300.0, rate


def test_lockstep_mode_advances_one_period_per_command(node_processes, probe):
    from rosgraph_msgs.msg import Clock
    start_sim(node_processes, "mode:=lockstep", "joint_state_rate:=250.0")
    probe.record("/clock", Clock, 10)
    probe.record(contract.JOINT_STATES, JointState, 10)
    probe.record(contract.image_topic(contract.HEAD_CAMERA), Image)
    contacts: list[SimContacts] = []
    probe.node.create_subscription(SimContacts, contract.SIM_CONTACTS, contacts.append,
                                   QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    pub = probe.node.create_publisher(JointCommand, contract.JOINT_COMMAND, 10)
    probe.start()
    wait_for(lambda: probe.count(contract.JOINT_STATES) > 0 and pub.get_subscription_count() > 0,
             timeout=30.0, what="lockstep sim")
    time.sleep(1.0)
    idle = probe.count(contract.JOINT_STATES)
    assert idle < 10  # without commands the sim only re-announces its state (2 Hz)
    home = list(load_robot_description().home)
    n = 100
    for i in range(n):  # a controller in lockstep: command, then wait for the resulting state
        pub.publish(JointCommand(name=list(contract.ARM_JOINTS), position=home, velocity=[0.0] * 7))
        wait_for(lambda: probe.count("/clock") > i, timeout=5.0, what=f"/clock after command {i}")  # noqa: B023 (waited for here)
    with probe.lock:
        clock = probe.last["/clock"].clock
    assert clock.sec + clock.nanosec * 1e-9 == pytest.approx(n * 0.004, abs=1e-6)
    # 30 Hz frames in sim time: 0.4 s of simulation renders 12 frames per camera.
    wait_for(lambda: probe.count(contract.image_topic(contract.HEAD_CAMERA)) >= 12, timeout=10.0, what="frames")
    # /gr2/sim/contacts at 50 Hz in sim time: the first after the first command (2 physics steps),
    # then one per 5 commands, each covering exactly the 10 steps since the previous one.
    wait_for(lambda: len(contacts) >= 20, timeout=10.0, what="/gr2/sim/contacts in sim time")
    assert [c.steps for c in contacts] == [2] + [10] * (len(contacts) - 1)
    assert contacts[-1].header.stamp.sec + contacts[-1].header.stamp.nanosec * 1e-9 == pytest.approx(
        0.004 + 0.02 * (len(contacts) - 1), abs=1e-6)


def test_contacts_topic_reports_clearance_and_contact(node_processes, probe):
    """/gr2/sim/contacts at its rate: at home the core's clearance (the half-arm link over the
    table); with the arm commanded to push the TCP 2 cm into the table, the gripper touches it."""
    from gr2_drivers.sim.ik import solve_ik
    from gr2_drivers.sim.world import World
    start_sim(node_processes, "camera_rate:=5.0")
    probe.record(contract.SIM_CONTACTS, SimContacts, 10)
    probe.record(contract.DIAGNOSTICS, DiagnosticArray, 10)
    pub = probe.node.create_publisher(JointCommand, contract.JOINT_COMMAND, 10)
    probe.start()
    world = World()   # the same model in this process: the expected home clearance and the IK
    home = world.environment_clearance()
    wait_for(lambda: probe.count(contract.SIM_CONTACTS) > 5 and pub.get_subscription_count() > 0,
             timeout=30.0, what="/gr2/sim/contacts")
    before = probe.count(contract.SIM_CONTACTS)
    time.sleep(2.0)
    rate = (probe.count(contract.SIM_CONTACTS) - before) / 2.0
    with probe.lock:
        msg = probe.last[contract.SIM_CONTACTS]
    assert rate > 40.0, rate   # contacts_rate 50 Hz
    assert msg.header.frame_id == contract.BASE_FRAME
    # A window without a physics step is reported as steps 0 (a loaded machine can hold the physics
    # thread past one 20 ms window); the windows that did step must arrive.
    wait_for(lambda: probe.last[contract.SIM_CONTACTS].steps > 0, timeout=5.0,
             what="a /gr2/sim/contacts window covering physics steps")
    assert msg.min_distance == pytest.approx(home.distance, abs=1e-4)   # the arm holds home
    assert (msg.robot_geom, msg.environment_geom, msg.in_contact) == (home.robot_geom, "table_top", False)

    m, d = world.model, world.data
    p, _ = world.ee_pose()
    q, residual = solve_ik(m, world.tcp_site, world.arm_qpos, world.arm_dof, world.joint_positions(),
                           np.array([p[0], p[1], -0.02]), d.site_xmat[world.tcp_site].reshape(3, 3).copy(),
                           world.lower, world.upper)
    assert residual < 1e-4
    # approach slowly (joint-space ramp over 2 s), then keep pushing
    start = np.array(world.desc.home)
    t0 = time.monotonic()
    while (s := (time.monotonic() - t0) / 2.0) < 1.5:
        target = start + (q - start) * min(s, 1.0)
        pub.publish(JointCommand(name=list(contract.ARM_JOINTS), position=target.tolist(), velocity=[0.0] * 7))
        time.sleep(0.01)
    time.sleep(0.1)
    with probe.lock:
        msg = probe.last[contract.SIM_CONTACTS]
        diag = {kv.key: kv.value for kv in probe.last[contract.DIAGNOSTICS].status[0].values}
    print(f"\n/gr2/sim/contacts at {rate:.1f} Hz; at home {home.distance * 1e3:.1f} mm ({home.robot_geom}); "
          f"pushing into the table: {msg.min_distance * 1e3:.2f} mm ({msg.robot_geom} - {msg.environment_geom}), "
          f"in_contact {msg.in_contact}; clearance CPU {diag['clearance_cpu_us_per_step']} us per physics step")
    assert msg.in_contact and msg.min_distance <= 0.0
    assert msg.robot_geom.startswith("gripper/") and msg.environment_geom == "table_top"


def test_a_dead_camera_thread_reports_error_and_the_node_exits_non_zero(node_processes, probe):
    """An essential thread that dies (here the camera loop, as when no GL backend works) must not
    leave a node that runs on and 'finishes cleanly': ERROR on /diagnostics, exit code 1."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
    errors = []
    probe.node.create_subscription(
        DiagnosticArray, contract.DIAGNOSTICS,
        lambda m: errors.extend(s for s in m.status if s.level == DiagnosticStatus.ERROR), 10)
    probe.start()
    code = ("import gr2_drivers.sim_node as s\n"
            "def camera_loop(self):\n    raise RuntimeError('no OpenGL context (test)')\n"
            "s.SimNode.camera_loop = camera_loop\ns.main()\n")
    proc = node_processes.start([sys.executable, "-c", code], name="sim_dead_camera")
    wait_for(lambda: proc.poll() is not None, 60, what="the sim node to exit")
    log = node_processes.output(proc)
    assert proc.returncode == 1, log[-3000:]
    assert "essential thread camera_loop died" in log and "no OpenGL context" in log
    wait_for(lambda: errors, 5, what="ERROR on /diagnostics")
    assert "camera_loop" in errors[0].message
