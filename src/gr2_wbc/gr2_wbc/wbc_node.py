"""wbc_node: the 200 Hz whole-body controller as a ROS 2 node (thin adapter around
gr2_wbc.controller).

The control loop runs in its own thread with absolute deadlines on time.monotonic (a
drifting rclpy timer would accumulate callback latency into the period); subscriptions,
the stop and resume services and the slow publishers (status, path, markers) run in the
executor. The status is also published within 20 ms of every mode change (the control thread sets
a flag an executor timer checks; latched): the policy follows STOPPING/STOPPED/FAULT at once, not
at the 2 Hz rate.
A new instruction on /gr2/instruction (or /gr2/resume) gives chunks authority again after a stop.
Teleoperation: /gr2/operator_control (std_srvs/SetBool) gives the operator control (TELEOP) or hands
it back; while TELEOP the servo twist (/gr2/servo/twist, geometry_msgs/TwistStamped in base_link or
the TCP frame) and /gr2/servo/gripper_command move the arm, through the same tracking QP.
"""

from __future__ import annotations

from gr2_contract import shutdown_signals

if __name__ == "__main__":   # `python -m gr2_wbc.wbc_node`: before numpy/rclpy start threads
    shutdown_signals.block()

import math
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Point, Pose, PoseStamped, TwistStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import Marker, MarkerArray

import gr2_contract as contract
from gr2_contract.node_main import run_essential, spin_until_shutdown
from gr2_contract.parameters import ParameterSpec, declare, declare_dataclass, declare_mapping
from gr2_contract.realtime import DeadlineLoop, fifo_or_warn
from gr2_msgs.msg import ActionChunk, GripperCommand, JointCommand, RobotState, WbcStatus
from gr2_wbc.config import controller_config_from_params, default_parameters
from gr2_wbc.controller import Controller, Mode
from gr2_wbc.trajectory import ChunkData


def to_time_msg(seconds: float) -> TimeMsg:
    """builtin_interfaces/Time of `seconds`, by gr2_contract's one seconds-to-stamp rule."""
    sec, nanosec = contract.stamp_fields(seconds)
    return TimeMsg(sec=sec, nanosec=nanosec)


def chunk_from_msg(msg: ActionChunk) -> ChunkData:
    """ChunkData of a gr2_msgs/ActionChunk: stamp (s), poses as (k, 3) positions and (k, 4) xyzw."""
    poses = msg.poses
    return ChunkData(
        stamp=contract.stamp_seconds(msg.header.stamp), dt=float(msg.dt),
        positions=np.array([[p.position.x, p.position.y, p.position.z] for p in poses], dtype=float).reshape(-1, 3),
        quaternions=np.array([[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]
                              for p in poses], dtype=float).reshape(-1, 4),
        gripper=np.array(msg.gripper, dtype=float), frame_id=msg.header.frame_id, sequence=int(msg.sequence))


def pose_msg(T: pin.SE3) -> Pose:
    """geometry_msgs/Pose of the transform `T` (position in m, quaternion xyzw)."""
    q = pin.Quaternion(T.rotation).coeffs()
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in T.translation)
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in q)
    return pose


@dataclass
class WbcNodeParameters:
    """The WBC node's own parameters (config/wbc.yaml); the controller's (`rate`, `tracking.*`,
    `trajectory.*`, ...) are gr2_wbc.config's default_parameters(), mapped onto ControllerConfig."""
    status_rate: float = 2.0          # Hz, /gr2/wbc/status
    path_rate: float = 10.0           # Hz, /gr2/wbc/planned_path and /gr2/wbc/markers
    gripper_speed: float = 0.5        # fraction of max, sent with every gripper command
    gripper_force: float = 0.5
    realtime_priority: int = 0        # SCHED_FIFO of the 200 Hz thread (0: normal scheduling)
    support_priority: int = 0         # SCHED_FIFO of the executor and an in-process optimiser (0: normal)


class WbcNode(Node):
    """The WBC node (module docstring): parameters from config/wbc.yaml, control loop in its own thread."""

    def __init__(self):
        super().__init__("wbc")
        params = self._declare_parameters()
        self._create_controller(params)
        self._create_interfaces()
        self._start_threads()
        self.get_logger().info(
            f"WBC at {1.0 / self.cfg.period:.0f} Hz, {len(self.controller.robot.pairs)} collision pairs, "
            f"obstacles {[b.name for b in self.cfg.model.obstacles]}")

    def _declare_parameters(self) -> dict:
        """The controller's flat parameters (default_parameters(), plus environment.<box>.center
        and .size for every listed box), returned as a dict; WbcNodeParameters onto this node."""
        params = declare_mapping(self, default_parameters())
        for box in params["environment.boxes"]:
            for key in ("center", "size"):
                name = f"environment.{box}.{key}"
                if box and name not in params:
                    params[name] = declare(self, ParameterSpec(name, list[float]))
        node = declare_dataclass(self, WbcNodeParameters)
        self.status_rate, self.path_rate = node.status_rate, node.path_rate
        self.gripper_speed, self.gripper_force = node.gripper_speed, node.gripper_force
        self.realtime_priority = node.realtime_priority
        self.support_priority = node.support_priority
        return params

    def _create_controller(self, params: dict) -> None:
        """The Controller of these parameters; this (the executor's) thread at support_priority."""
        self.cfg = controller_config_from_params(params)
        self.controller = Controller(self.cfg)
        error = getattr(self.controller.optimizer, "priority_error", None)
        if error:
            self.get_logger().warn(f"optimiser process stays at normal priority: SCHED_FIFO "
                                   f"{self.cfg.optimiser_priority} not available ({error})")
        # The executor (this thread: the node is built by the thread that spins it) and the chunk
        # optimiser thread it starts share the GIL with the control thread: see gr2_contract.realtime.
        fifo_or_warn(self.support_priority, self.get_logger(), "executor and optimiser threads")
        robot = self.controller.robot
        self.joint_names = list(robot.description.arm_joints)
        self.gripper_joint = robot.description.gripper_joint
        self.gripper_stroke = robot.gripper_stroke   # from the URDF, as the Kinova driver reads it
        # Servo twists may be expressed in base_link or in the TCP frame (MoveIt Servo's
        # planning frame and EE frame); without TF no other frame can be resolved here.
        self.tcp_frame_name = robot.model.frames[robot.tcp_frame].name
        self._fk_model = robot.model
        self._fk_data = robot.model.createData()   # the measured-state FK must not share the QP's data
        self._measured: tuple[float, np.ndarray, np.ndarray, float] | None = None
        self._gripper_closed = False
        self._meas_lock = threading.Lock()

    def _create_interfaces(self) -> None:
        """Publishers, subscriptions, the stop and resume services and the status/path timers."""
        depth = contract.HIGH_RATE_HISTORY_DEPTH
        self.cmd_pub = self.create_publisher(JointCommand, contract.JOINT_COMMAND, depth)
        self.gripper_pub = self.create_publisher(GripperCommand, contract.GRIPPER_COMMAND, depth)
        self.state_pub = self.create_publisher(RobotState, contract.ROBOT_STATE, depth)
        self.status_pub = self.create_publisher(WbcStatus, contract.WBC_STATUS, contract.latched_qos())
        self._last_mode: Mode | None = None
        # A mode change seen by the 200 Hz thread sets this flag; an executor timer publishes the
        # status within 20 ms, so the control thread never builds or publishes it (the nodes'
        # EventsExecutor has no guard conditions).
        self._mode_changed = threading.Event()
        self.create_timer(0.02, self._publish_on_mode_change)
        self.path_pub = self.create_publisher(Path, contract.WBC_PLANNED_PATH, 5)
        self.marker_pub = self.create_publisher(MarkerArray, contract.WBC_MARKERS, 5)
        self.create_subscription(JointState, contract.JOINT_STATES, self.on_joint_state, qos_profile_sensor_data)
        self.create_subscription(ActionChunk, contract.ACTION_CHUNK, self.on_chunk, 10)
        self.create_service(Trigger, contract.STOP_SERVICE, self.on_stop)
        self.create_service(Trigger, contract.RESUME_SERVICE, self.on_resume)
        self.create_subscription(String, contract.INSTRUCTION, self.on_instruction, 10)
        self.create_service(SetBool, contract.OPERATOR_CONTROL, self.on_operator_control)
        self.create_subscription(TwistStamped, contract.SERVO_TWIST, self.on_servo_twist, 10)
        self.create_subscription(GripperCommand, contract.SERVO_GRIPPER, self.on_servo_gripper, 10)
        self.create_timer(1.0 / self.status_rate, self.publish_status)
        self.create_timer(1.0 / self.path_rate, self.publish_path)

    def _start_threads(self) -> None:
        """The chunk optimiser thread and the 200 Hz control thread."""
        self._running = True
        # Chunks are handed to a thread of their own, so a slow optimisation never delays the
        # executor's /joint_states callbacks; only the newest chunk waits. OSQP keeps the GIL
        # through its solves, so with optimiser_process (config/wbc.yaml) the solves run in a
        # child process and this thread only waits on its socket; without it they would stall
        # the 200 Hz loop for as long as they take (optimiser_process.py).
        self._pending_chunk: ActionChunk | None = None
        self._chunk_ready = threading.Condition()
        self._optimiser = threading.Thread(target=run_essential, name="wbc_optimise", daemon=True,
                                           args=(self, "wbc_optimise", self.optimise_loop, lambda: not self._running))
        self._optimiser.start()
        self._thread = threading.Thread(target=run_essential, name="wbc_control", daemon=True,
                                        args=(self, "wbc_control", self.control_loop, lambda: not self._running))
        self._thread.start()

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- inputs ---------------------------------------------------------------------------
    def on_joint_state(self, msg: JointState) -> None:
        index = {n: i for i, n in enumerate(msg.name)}
        if not all(n in index for n in self.joint_names) or len(msg.position) != len(msg.name):
            return   # e.g. a gripper-only message
        q = np.array([msg.position[index[n]] for n in self.joint_names])
        qd = (np.array([msg.velocity[index[n]] for n in self.joint_names])
              if len(msg.velocity) == len(msg.name) else np.zeros(len(q)))
        if not np.all(np.isfinite(q)):
            self.get_logger().warn("ignoring /joint_states with NaN/inf", throttle_duration_sec=5.0)
            return
        g = msg.position[index[self.gripper_joint]] / self.gripper_stroke if self.gripper_joint in index else 0.0
        now = self.now()
        used, note = self.controller.update_measurement(now, q, contract.stamp_seconds(msg.header.stamp))
        if note:
            self.get_logger().warn(note, throttle_duration_sec=1.0)
        if used:
            with self._meas_lock:
                self._measured = (now, q, qd, float(np.clip(g, 0.0, 1.0)))

    def on_chunk(self, msg: ActionChunk) -> None:
        with self._chunk_ready:
            if self._pending_chunk is not None:
                self.get_logger().warn(f"action chunk {self._pending_chunk.sequence} superseded by "
                                       f"{msg.sequence} before it was optimised")
            self._pending_chunk = msg
            self._chunk_ready.notify()

    def optimise_loop(self) -> None:
        while self._running:
            with self._chunk_ready:
                self._chunk_ready.wait_for(lambda: self._pending_chunk is not None or not self._running, 0.1)
                msg, self._pending_chunk = self._pending_chunk, None
            if msg is None or not self._running:
                continue
            ok, why = self.controller.submit_chunk(chunk_from_msg(msg), self.now())
            if not ok:
                # while the operator has control a running policy's chunks are refused by design
                if self.controller.mode == Mode.TELEOP:
                    self.get_logger().warn(f"rejected action chunk {msg.sequence}: {why}", throttle_duration_sec=5.0)
                else:
                    self.get_logger().warn(f"rejected action chunk {msg.sequence}: {why}")

    def on_stop(self, request, response):
        response.message = self.controller.stop(self.now())
        response.success = True
        self.get_logger().info(f"/gr2/stop: {response.message}")
        return response

    def on_resume(self, request, response):
        response.success, response.message = self.controller.resume(self.now(), contract.RESUME_SERVICE)
        self.get_logger().info(f"/gr2/resume: {response.message}")
        return response

    def on_instruction(self, msg: String) -> None:
        if not msg.data.strip():
            return   # an empty instruction idles the policy; its chunks stop and the WBC holds
        ok, why = self.controller.resume(self.now(), "new instruction")
        if not ok:
            # (a recording session sends its instruction while the operator has control: no warning)
            log = self.get_logger().info if self.controller.mode == Mode.TELEOP else self.get_logger().warn
            log(f"new instruction does not resume: {why}")

    def on_operator_control(self, request, response):
        """/gr2/operator_control: data true = the operator takes control, false = hands back."""
        control = self.controller.take_control if request.data else self.controller.release_control
        response.success, response.message = control(self.now())
        self._mode_changed.set()   # the authority change is published within 20 ms
        self.get_logger().info(f"{contract.OPERATOR_CONTROL} {request.data}: {response.message}")
        return response

    def on_servo_twist(self, msg: TwistStamped) -> None:
        frame = msg.header.frame_id or self.cfg.frame_id
        if frame not in (self.cfg.frame_id, self.tcp_frame_name):
            self.get_logger().warn(f"servo twist in frame '{frame}' ignored: use '{self.cfg.frame_id}' or "
                                   f"'{self.tcp_frame_name}'", throttle_duration_sec=2.0)
            return
        t = msg.twist
        twist = np.array([t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z])
        ok, why = self.controller.servo_command(self.now(), twist, frame == self.tcp_frame_name,
                                                contract.stamp_seconds(msg.header.stamp))
        if not ok:
            self.get_logger().warn(why, throttle_duration_sec=2.0)

    def on_servo_gripper(self, msg: GripperCommand) -> None:
        ok, why = self.controller.servo_gripper(self.now(), float(msg.position))
        if not ok:
            self.get_logger().warn(why, throttle_duration_sec=2.0)

    # --- the 200 Hz loop --------------------------------------------------------------------
    def control_loop(self) -> None:
        # SCHED_FIFO so the 200 Hz loop preempts other processes (Linux; root, CAP_SYS_NICE or rtprio)
        fifo_or_warn(self.realtime_priority, self.get_logger(), "control thread")
        loop = DeadlineLoop(self.cfg.period)
        while self._running and rclpy.ok():
            loop.wait()
            try:
                self.cycle(self.now() if rclpy.ok() else 0.0)
            except Exception as err:   # noqa: BLE001 - the loop must survive and report
                if not rclpy.ok():
                    break
                self.get_logger().error(f"control cycle failed: {err!r}", throttle_duration_sec=1.0)
            if loop.finished(time.monotonic()):
                self.controller.record_deadline_miss()

    def cycle(self, now: float) -> None:
        out = self.controller.step(now)
        if out is not None and out.mode != self._last_mode:
            self._last_mode = out.mode
            self._mode_changed.set()
        if out is not None:
            cmd = JointCommand()
            cmd.header.stamp = to_time_msg(now + self.cfg.period)
            cmd.header.frame_id = self.cfg.frame_id
            cmd.name = self.joint_names
            cmd.position = out.position.tolist()
            cmd.velocity = out.velocity.tolist()
            if out.chunk is not None:
                cmd.chunk_sequence, cmd.chunk_stamp = out.chunk[0], to_time_msg(out.chunk[1])
            self.cmd_pub.publish(cmd)
            if out.gripper is not None:
                g = GripperCommand()
                g.header.stamp = cmd.header.stamp
                g.position, g.speed, g.force = float(out.gripper), self.gripper_speed, self.gripper_force
                self._gripper_closed = out.gripper > 0.5
                self.gripper_pub.publish(g)
        self.publish_robot_state()

    def publish_robot_state(self) -> None:
        with self._meas_lock:
            measured = self._measured
        if measured is None:
            return
        stamp, q, qd, gripper = measured
        robot = self.controller.robot
        pin.forwardKinematics(self._fk_model, self._fk_data, robot.configuration(q))
        T = pin.updateFramePlacement(self._fk_model, self._fk_data, robot.tcp_frame)
        pin.computeJointJacobians(self._fk_model, self._fk_data)
        J = pin.getFrameJacobian(self._fk_model, self._fk_data, robot.tcp_frame, pin.LOCAL_WORLD_ALIGNED)
        twist = J @ qd
        msg = RobotState()
        msg.header.stamp = to_time_msg(stamp)
        msg.header.frame_id = self.cfg.frame_id
        msg.ee_pose = pose_msg(T)
        msg.ee_twist.linear.x, msg.ee_twist.linear.y, msg.ee_twist.linear.z = (float(v) for v in twist[:3])
        msg.ee_twist.angular.x, msg.ee_twist.angular.y, msg.ee_twist.angular.z = (float(v) for v in twist[3:])
        msg.gripper_position = gripper
        msg.gripper_closed = self._gripper_closed
        msg.joint_names = self.joint_names
        msg.joint_positions = q.tolist()
        msg.joint_velocities = qd.tolist()
        self.state_pub.publish(msg)

    # --- monitoring -----------------------------------------------------------------------
    def _publish_on_mode_change(self) -> None:
        if self._mode_changed.is_set():
            self._mode_changed.clear()
            self.publish_status()

    def publish_status(self) -> None:
        s = self.controller.status()
        msg = WbcStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.mode = int(s.mode)
        msg.cycle_p50, msg.cycle_p99, msg.cycle_max = s.cycle_p50, s.cycle_p99, s.cycle_max
        msg.qp_p50, msg.qp_p99 = s.qp_p50, s.qp_p99
        msg.deadline_misses, msg.cycles_without_reference, msg.cycles = (
            s.deadline_misses, s.cycles_without_reference, s.cycles)
        msg.manipulability = s.manipulability
        msg.min_distance = s.min_distance if math.isfinite(s.min_distance) else -1.0
        msg.position_error, msg.orientation_error = s.position_error, s.orientation_error
        msg.chunks_accepted, msg.chunks_rejected = s.chunks_accepted, s.chunks_rejected
        msg.message = s.message
        self.status_pub.publish(msg)

    def report_fatal(self, reason: str):
        """An essential thread died (run_essential): FAULT with the reason on the status before exiting 1. Returns the
        publisher it used (gr2_contract.node_main repeats the report until a subscriber has heard it)."""
        msg = WbcStatus(mode=WbcStatus.MODE_FAULT, message=reason)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(msg)
        return self.status_pub

    def publish_path(self) -> None:
        points = self.controller.planned_path(self.now())
        stamp = self.get_clock().now().to_msg()
        path = Path()
        path.header.stamp, path.header.frame_id = stamp, self.cfg.frame_id
        for p in points:
            ps = PoseStamped()
            ps.header = path.header
            ps.pose.position.x, ps.pose.position.y, ps.pose.position.z = (float(v) for v in p)
            ps.pose.orientation.w = 1.0
            path.poses.append(ps)
        self.path_pub.publish(path)
        line = Marker()
        line.header = path.header
        line.ns, line.id, line.type, line.action = "wbc_reference", 0, Marker.LINE_STRIP, Marker.ADD
        line.scale.x = 0.005
        line.color.g, line.color.a = 0.8, 1.0
        line.pose.orientation.w = 1.0
        line.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points]
        head = Marker()
        head.header = path.header
        head.ns, head.id, head.type = "wbc_reference", 1, Marker.SPHERE
        head.action = Marker.ADD if len(points) else Marker.DELETE
        if len(points):
            head.pose.position = line.points[0]
        head.pose.orientation.w = 1.0
        head.scale.x = head.scale.y = head.scale.z = 0.02
        head.color.r, head.color.g, head.color.a = 1.0, 0.5, 1.0
        self.marker_pub.publish(MarkerArray(markers=[line, head]))

    def destroy_node(self):
        """Stops the control and optimiser threads first: they publish through this node; then
        the optimiser process."""
        self._running = False
        with self._chunk_ready:
            self._chunk_ready.notify_all()
        self._thread.join(timeout=1.0)
        self._optimiser.join(timeout=1.0)
        self.controller.close()
        return super().destroy_node()


def main(args=None) -> None:
    """Run the WBC node until SIGINT/SIGTERM (taken by a sigwait thread, see shutdown_signals)."""
    # The executor thread holds the GIL between its callbacks; with the default 5 ms switch
    # interval the control thread could wait a whole period for it after waking up.
    sys.setswitchinterval(0.0002)
    # SIGINT/SIGTERM are taken by a sigwait thread, not by handlers (OSQP swaps its own SIGINT
    # handler in around every solve): see shutdown_signals. The entry points block them before
    # any import starts a thread; watch() blocks them again for main() called from elsewhere.
    spin_until_shutdown(WbcNode, args, watch_signals=shutdown_signals.watch)


if __name__ == "__main__":
    main()
