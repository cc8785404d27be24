"""GR-2 policy node: instruction + cameras + robot state in, action chunks out.

Callbacks only store the latest inputs; inference runs in a worker thread so the executor
never blocks. Chunks are stamped with the observation time (the oldest camera frame used),
which the WBC uses to drop the part of a chunk that is already in the past. The next
inference starts before the executing chunk runs out (see runtime.ChunkClock). A stale or
missing input produces no chunk and says so in /gr2/policy/status. /gr2/stop is served by
the WBC (the safety layer, the one owner of control authority); this node follows the WBC's
latched status: when the WBC enters STOPPING, STOPPED or FAULT it stops inferring, drops any
chunk in flight and stays idle until the next instruction.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np
from geometry_msgs.msg import Pose
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import String

from gr2_contract import (
    ACTION_CHUNK,
    BASE_FRAME,
    CAMERAS,
    INSTRUCTION,
    POLICY_STATUS,
    PREDICTED_IMAGE,
    ROBOT_STATE,
    WBC_STATUS,
    image_topic,
    latched_qos,
    stamp_fields,
    stamp_seconds,
)
from gr2_contract.node_main import run_essential, spin_until_shutdown
from gr2_contract.parameters import declare_dataclass
from gr2_msgs.msg import ActionChunk, PolicyStatus, RobotState, WbcStatus

from .model_input import gripper_closure
from .runtime import ChunkClock, ObservationAssembler, RuntimeConfig, load_runtime_policy

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def sec_to_stamp(t: float, msg_stamp) -> None:
    """Write time `t` (s) into the builtin_interfaces/Time `msg_stamp` in place (gr2_contract's rule)."""
    msg_stamp.sec, msg_stamp.nanosec = stamp_fields(t)


def image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB view of an rgb8 or bgr8 sensor_msgs/Image; ValueError for other encodings."""
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (rgb8 or bgr8)")
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
    rgb = rows[:, :msg.width * 3].reshape(msg.height, msg.width, 3)
    return rgb[..., ::-1] if msg.encoding == "bgr8" else rgb


def rgb_to_image(rgb: np.ndarray, stamp, frame_id: str) -> Image:
    """An rgb8 sensor_msgs/Image of `rgb` (H, W, 3) uint8 with the given header stamp and frame."""
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding="rgb8", is_bigendian=0,
                step=rgb.shape[1] * 3, data=np.ascontiguousarray(rgb).tobytes())
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


@dataclass
class PolicyParameters:
    """The policy node's parameters besides RuntimeConfig's fields (declared from both dataclasses)."""
    checkpoint: str = field(default="", metadata={"description": "checkpoint directory or package:// URI"})
    untrained_preset: str = ""     # non-empty: run this untrained preset instead of the checkpoint
    device: str = "cpu"            # torch device: cpu, cuda, cuda:1
    precision: str = "fp32"        # fp32 or bf16 (autocast)
    predict_frames_every: int = 0  # publish predicted frames every N chunks (0: never)
    n_obs_steps: int = 0           # h; 0: whatever the checkpoint was trained with
    cpu_threads: int = 0           # torch intra-op threads; 0: torch's default


# Parameter names before the renames to LeRobot's terms (GR2Config.n_obs_steps, RuntimeConfig.n_action_steps).
RENAMED_PARAMETERS = {"history": "n_obs_steps", "execution_horizon": "n_action_steps"}   # both integers
RENAMED_UNSET = -1


class PolicyNode(Node):
    """The policy node (module docstring); its parameters are RuntimeConfig's fields plus the model's."""

    def __init__(self):
        super().__init__("gr2_policy")
        params, cfg = self._declare_parameters()
        model_cfg = self._load_policy(params)
        self.assembler = ObservationAssembler(tuple(model_cfg.views), model_cfg.vqgan.resolution, cfg,
                                             model_cfg.view_crops)
        self.clock = ChunkClock(cfg, model_cfg.action_dt, model_cfg.chunk_size)
        self._init_state()
        self._create_interfaces(model_cfg)
        self.worker = threading.Thread(target=run_essential, name="gr2-inference", daemon=True,
                                       args=(self, "gr2-inference", self._work, self._shutdown.is_set))
        self.worker.start()
        self.get_logger().info(f"GR-2 policy ready: {self.loaded.source} on {self.device} ({params.precision}), "
                               f"h={model_cfg.n_obs_steps}, k={model_cfg.chunk_size}, dt={model_cfg.action_dt}")

    def _load_policy(self, params: PolicyParameters):
        """Load the checkpoint (or untrained preset), check it fits this robot and the parameters,
        warm it up; returns its model config. ValueError for a mismatch."""
        self.checkpoint, self.device = params.checkpoint, params.device
        self.predict_frames_every = params.predict_frames_every  # 0: never
        if params.cpu_threads > 0:   # torch intra-op threads; 0: torch's default
            import torch
            torch.set_num_threads(params.cpu_threads)
        self.loaded = load_runtime_policy(self.checkpoint, params.device, params.precision, params.untrained_preset)
        model_cfg = self.loaded.policy.model.config
        # n_obs_steps 0: whatever the checkpoint was trained with
        if params.n_obs_steps and params.n_obs_steps != model_cfg.n_obs_steps:
            raise ValueError(f"parameter n_obs_steps={params.n_obs_steps} but the checkpoint uses "
                             f"h={model_cfg.n_obs_steps}")
        if set(model_cfg.views) - set(CAMERAS):
            raise ValueError(f"model views {model_cfg.views} are not cameras of this robot {CAMERAS}")
        self._warm_up(model_cfg)
        return model_cfg

    def _init_state(self) -> None:
        """The episode and inference state the callbacks and the worker share (under `_lock`)."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._shutdown = threading.Event()
        self.instruction = ""
        self.episode = 0           # +1 per instruction message: a new episode, even with the same text
        self.state = PolicyStatus.STATE_IDLE
        self.message = "" if self.loaded.trained else f"UNTRAINED model ({self.loaded.source}): cannot solve tasks"
        self.sequence = 0
        self.chunks_published = 0
        self.latencies: list[float] = []
        self.last_obs_age = float("nan")
        self._wbc_halted = False   # last WBC mode seen was a halt (acts on the transition only)

    def _create_interfaces(self, model_cfg) -> None:
        """Publishers, subscriptions (one per camera the model uses) and timers."""
        self.chunk_pub = self.create_publisher(ActionChunk, ACTION_CHUNK, RELIABLE)
        self.status_pub = self.create_publisher(PolicyStatus, POLICY_STATUS, RELIABLE)
        self.pred_pubs = {v: self.create_publisher(Image, PREDICTED_IMAGE[v], 1) for v in model_cfg.views}
        self.create_subscription(String, INSTRUCTION, self._on_instruction, RELIABLE)
        self.create_subscription(RobotState, ROBOT_STATE, self._on_state, qos_profile_sensor_data)
        self.create_subscription(WbcStatus, WBC_STATUS, self._on_wbc_status, latched_qos())
        for view in model_cfg.views:
            self.create_subscription(Image, image_topic(view), lambda m, v=view: self._on_image(v, m),
                                     qos_profile_sensor_data)
        self.create_timer(1.0, self.publish_status)
        self.create_timer(0.01, self._tick)

    def _declare_parameters(self) -> tuple[PolicyParameters, RuntimeConfig]:
        """PolicyParameters' and RuntimeConfig's fields as parameters of the same names (their
        defaults the dataclasses'). ValueError for a value given under a name from before a rename:
        rclpy would ignore an undeclared parameter, and the node run with the default instead, so
        the old names are declared (integers, -1 = not given) to see whether a value came for them."""
        from rcl_interfaces.msg import ParameterDescriptor
        old = [name for name, new in RENAMED_PARAMETERS.items()
               if self.declare_parameter(name, RENAMED_UNSET,
                                         ParameterDescriptor(description=f"renamed: set {new}")).value != RENAMED_UNSET]
        if old:
            raise ValueError("renamed parameter(s): " + ", ".join(f"{o} -> {RENAMED_PARAMETERS[o]}" for o in old))
        return declare_dataclass(self, PolicyParameters), declare_dataclass(self, RuntimeConfig)

    def _warm_up(self, model_cfg) -> None:
        """One throw-away prediction (with video) before going live: the first call of a fresh
        model pays one-off costs (kernel selection, allocator growth) that must not land on the
        first real chunk."""
        from .policy import Observation
        r = model_cfg.vqgan.resolution
        blank = Observation(images={v: np.zeros((r, r, 3), np.uint8) for v in model_cfg.views},
                            ee_position=np.array([0.4, 0.0, 0.3]), ee_quaternion=np.array([1.0, 0.0, 0.0, 0.0]),
                            gripper_closure=0.0)
        t0 = time.perf_counter()
        self.loaded.policy.predict(blank, "warm up", predict_frames=self.predict_frames_every > 0)
        self.loaded.policy.reset()
        self.get_logger().info(f"warm-up inference took {time.perf_counter() - t0:.2f} s")

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ---- callbacks: store and return ----
    def _on_instruction(self, msg: String) -> None:
        text = msg.data.strip()
        try:
            if text:
                self.loaded.policy.text.check(text)
        except ValueError as err:
            # The previous task must not go on as if the operator had not asked for another one.
            self.get_logger().error(f"instruction rejected: {err}")
            with self._lock:
                self.instruction = ""
                self.episode += 1
                self.state = PolicyStatus.STATE_IDLE
                self.message = f"instruction rejected: {err}"
            self.publish_status()
            return
        with self._lock:
            self.instruction = text
            self.episode += 1
            self.sequence = 0
            self.chunks_published = 0
            self.loaded.policy.reset()
            self.clock.reset()
            self.state = PolicyStatus.STATE_RUNNING if text else PolicyStatus.STATE_IDLE
        self.get_logger().info(f"instruction: {text!r}" if text else "empty instruction: idle")
        self.publish_status()

    def _on_image(self, view: str, msg: Image) -> None:
        try:
            rgb = image_to_rgb(msg)
        except ValueError as err:
            self.get_logger().error(f"{view}: {err}", throttle_duration_sec=5.0)
            return
        with self._lock:
            refused = self.assembler.add_frame(view, stamp_seconds(msg.header.stamp), rgb, received=self.now())
        if refused:
            self.get_logger().warn(refused, throttle_duration_sec=5.0)

    def _on_state(self, msg: RobotState) -> None:
        p, q = msg.ee_pose.position, msg.ee_pose.orientation
        with self._lock:
            # the measured opening, as in the training data (model_input.gripper_closure), not
            # msg.gripper_closed (the WBC's last command)
            refused = self.assembler.add_state(stamp_seconds(msg.header.stamp), (p.x, p.y, p.z), (q.x, q.y, q.z, q.w),
                                               float(gripper_closure(msg.gripper_position)), received=self.now())
        if refused:
            self.get_logger().warn(refused, throttle_duration_sec=5.0)

    def _on_wbc_status(self, msg: WbcStatus) -> None:
        # Only the transition into a halt counts: a status published before the WBC saw a new
        # instruction (which resumes it) must not cancel that instruction here.
        halted = msg.mode in (WbcStatus.MODE_STOPPING, WbcStatus.MODE_STOPPED, WbcStatus.MODE_FAULT)
        entered, self._wbc_halted = halted and not self._wbc_halted, halted
        if entered and self.instruction:
            with self._lock:
                self.instruction = ""
                self.episode += 1          # an inference in flight is dropped when it returns
                self.state = PolicyStatus.STATE_IDLE
                self.message = (f"stopped: the WBC is {'faulted' if msg.mode == WbcStatus.MODE_FAULT else 'stopped'}"
                                f" ({msg.message}); send a new instruction to resume")
            self.get_logger().warning(self.message)
            self.publish_status()

    def _tick(self) -> None:
        with self._lock:
            if self.instruction and self.clock.due(self.now()):
                self._wake.set()

    # ---- inference worker ----
    def _work(self) -> None:
        while not self._shutdown.is_set():
            if not self._wake.wait(0.1):
                continue
            self._wake.clear()
            with self._lock:
                instruction = self.instruction
                now = self.now()
                if not instruction or not self.clock.due(now):
                    continue
                obs, reason = self.assembler.assemble(now)
                if obs is None:
                    self.state, self.message = PolicyStatus.STATE_WAITING, reason
                    continue
                self.clock.started(now)
                episode = self.episode
                sequence = self.sequence
                want_frames = self.predict_frames_every > 0 and sequence % self.predict_frames_every == 0
            try:
                t0 = time.perf_counter()
                result = self.loaded.policy.predict(obs, instruction, predict_frames=want_frames)
                latency = time.perf_counter() - t0
            except Exception as err:  # noqa: BLE001 - report any inference failure, keep the node up
                self.get_logger().error(f"inference failed: {err}\n{traceback.format_exc()}")
                with self._lock:
                    self.state, self.message = PolicyStatus.STATE_ERROR, f"inference failed: {err}"
                continue
            with self._lock:
                if episode != self.episode or instruction != self.instruction:
                    # A new instruction or a stop while inferring: drop the result and clear the
                    # history again (predict() appended the old episode's observation, possibly after
                    # the instruction callback's reset). Only this thread predicts, so the new
                    # episode has no observation of its own in it yet.
                    self.loaded.policy.reset()
                    continue
                self.clock.finished(obs.stamp, self.now())
                self.sequence += 1
                self.chunks_published += 1
                self.latencies = (self.latencies + [latency])[-100:]
                self.last_obs_age = self.now() - obs.stamp
                self.state = PolicyStatus.STATE_RUNNING
                self.message = ("" if self.loaded.trained else f"UNTRAINED model ({self.loaded.source})")
                if self.clock.runs_dry():
                    self.message += (f" observation-to-chunk delay {self.clock.delay:.2f} s is longer than a chunk "
                                     f"({self.clock.k * self.clock.dt:.2f} s): the robot will pause")
                if self._shutdown.is_set() or not self.context.ok():
                    return
                self.chunk_pub.publish(self._chunk_msg(result, sequence))
            if result.predicted_frames:
                # Stamped with the observation they were predicted from, like the chunk.
                stamp = self._chunk_msg(result, sequence).header.stamp
                for view, rgb in result.predicted_frames.items():
                    self.pred_pubs[view].publish(rgb_to_image(rgb, stamp, f"{view}_color_optical_frame"))

    def _chunk_msg(self, result, sequence: int) -> ActionChunk:
        msg = ActionChunk()
        sec_to_stamp(result.stamp, msg.header.stamp)
        msg.header.frame_id = result.frame_id or BASE_FRAME
        msg.dt = float(result.dt)
        for pos, quat in zip(result.positions, result.quaternions, strict=False):
            pose = Pose()
            pose.position.x, pose.position.y, pose.position.z = (float(v) for v in pos)
            pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (float(v) for v in quat)
            msg.poses.append(pose)
        msg.gripper = [float(g) for g in result.gripper]
        msg.sequence = sequence
        msg.instruction = result.instruction
        return msg

    def report_fatal(self, reason: str):
        """The inference thread died (run_essential): ERROR with the reason on the status, then exit 1. Returns the
        publisher it used (gr2_contract.node_main repeats the report until a subscriber has heard it)."""
        with self._lock:
            self.state, self.message = PolicyStatus.STATE_ERROR, reason
        self.publish_status()
        return self.status_pub

    def publish_status(self) -> None:
        with self._lock:
            msg = PolicyStatus(state=self.state, instruction=self.instruction, checkpoint=self.loaded.source,
                               device=self.device, chunks_published=self.chunks_published,
                               last_sequence=max(self.sequence - 1, 0), message=self.message)
            if self.latencies:
                msg.last_latency = self.latencies[-1]
                msg.latency_p50 = float(np.percentile(self.latencies, 50))
                msg.latency_p95 = float(np.percentile(self.latencies, 95))
            msg.observation_age = self.last_obs_age
        msg.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(msg)

    def destroy_node(self):
        self._shutdown.set()
        self.worker.join(timeout=5.0)
        return super().destroy_node()


def main(args=None) -> None:
    """Run the policy node until SIGINT/SIGTERM."""
    spin_until_shutdown(PolicyNode, args)


if __name__ == "__main__":
    main()
