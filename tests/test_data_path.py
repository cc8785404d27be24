"""Training and deployment see the same pixels: one sim state, two paths, byte-identical model input.

Path 1 (training): `gr2_drivers.sim.dataset.record_episode` + `gr2_contract.episode.write_episode` in this process,
read back by `gr2_policy.data.SimDatasetReader` (which applies `prepare_frames`).
Path 2 (deployment): the sim node as its own process in lockstep mode with the same task,
setting and seed, its camera topics received here over DDS and turned into the model's input by
the policy node's own code (`image_to_rgb`, `ObservationAssembler`).

The state compared is the episode's start (sim time 0, the dataset's frame 0), once as the node
starts and once after it was stepped and reset by /gr2/sim/reset. Lockstep keeps it: the sim only
steps on a /gr2/joint_command; while idle it publishes the start/reset state's frames, stamped
with sim time 0. A frame after one step would not do: the 2F-85's finger linkage is still
creeping after the reset's settling (5e-6 rad in the first 4 ms), which changes 3 wrist-camera
pixels by one level (seed 3).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger

import gr2_contract as contract
from gr2_contract.config import config_dir
from gr2_msgs.msg import JointCommand
from gr2_testing.processes import wait_for

pytestmark = pytest.mark.multiprocess

TASK, SETTING, SEED = "pick_cube", "simple", 3
VIEWS = (contract.HEAD_CAMERA, contract.WRIST_CAMERA)
RESOLUTION = 64
# The file the dataset generator reads its cameras from (`load_sim_config()`), given to the node
# too, so both paths build the same cameras.
SIM_CONFIG = config_dir() / "sim.yaml"
# Input crops compared: none, and a head-view region (model_input.Crop) as a cropping policy has.
CROPS = {"whole frames": {}, "head crop": {contract.HEAD_CAMERA: (0.036, 0.18, 0.964, 0.82)}}


class Receiver:
    """Subscriber node in this process, in its own context, spun in a background thread."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("data_path_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.images: dict[str, list[Image]] = {v: [] for v in VIEWS}
        self.joint_states: list[JointState] = []
        self.clocks: list[Clock] = []
        # The policy node's QoS for frames (best effort connects to the sim's reliable publisher).
        for view in VIEWS:
            self.node.create_subscription(Image, contract.image_topic(view),
                                          lambda m, v=view: self._keep(self.images[v], m), qos_profile_sensor_data)
        self.node.create_subscription(JointState, contract.JOINT_STATES,
                                      lambda m: self._keep(self.joint_states, m), 10)
        self.node.create_subscription(Clock, "/clock", lambda m: self._keep(self.clocks, m), 10)
        # The sim's lockstep command QoS: every command is a step and must arrive.
        self.commands = self.node.create_publisher(JointCommand, contract.JOINT_COMMAND,
                                                   QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        self.reset = self.node.create_client(Trigger, contract.SIM_RESET)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, into: list, msg) -> None:
        with self.lock:
            into.append(msg)

    def first_frames(self) -> dict[str, Image] | None:
        with self.lock:
            if all(self.images[v] for v in VIEWS):
                return {v: self.images[v][0] for v in VIEWS}
        return None

    def latest(self, stamp: float | None = None) -> dict[str, Image] | None:
        """The last frame of each view (None until every view has one, or, given `stamp`, until
        every view's last frame has that stamp: frames of one publisher arrive in order)."""
        with self.lock:
            if not all(self.images[v] for v in VIEWS):
                return None
            last = {v: self.images[v][-1] for v in VIEWS}
        if stamp is not None and any(contract.stamp_seconds(m.header.stamp) != stamp for m in last.values()):
            return None
        return last

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def record_dataset(out: Path):
    """Path 1: one pick_cube episode written as the generator writes it, read as training reads it."""
    from gr2_contract.episode import load_episode, write_episode
    from gr2_drivers.sim.dataset import RecordConfig, record_episode
    from gr2_drivers.sim.world import World, load_sim_config
    from gr2_policy.data import SimDatasetReader

    world = World(load_sim_config())            # what `gr2_drivers.sim.dataset.generate` builds
    meta, streams = record_episode(world, TASK, SETTING, SEED, RecordConfig())
    episode_dir = write_episode(out, meta, streams)
    _, on_disk = load_episode(episode_dir)
    # successful_only=False: what is compared is frame 0, whatever the expert did afterwards.
    episodes = {name: SimDatasetReader(out, VIEWS, RESOLUTION, successful_only=False, crops=crops)[0]
                for name, crops in CROPS.items()}
    return meta, on_disk, episodes


def _difference(a: np.ndarray, b: np.ndarray) -> str:
    differing = np.any(a != b, axis=-1)
    return (f"{int(differing.sum())} of {differing.size} pixels differ, "
            f"max |diff| {int(np.abs(a.astype(int) - b.astype(int)).max())}")


def assert_same_model_input(frames: dict[str, Image], on_disk: dict, episodes: dict, when: str) -> None:
    """The node's frames of one state, through the policy node's code, against the dataset's frame 0,
    for each input crop of CROPS (`episodes`: crop name -> the episode read with those crops)."""
    from gr2_policy.model_input import gripper_closure
    from gr2_policy.policy_node import image_to_rgb
    from gr2_policy.runtime import ObservationAssembler, RuntimeConfig

    for view, msg in frames.items():
        assert contract.stamp_seconds(msg.header.stamp) == 0.0, f"{when}: {view} frame is not of sim time 0"
    # Raw camera frames first: where these differ, the cause is upstream of prepare_frame.
    received = {v: image_to_rgb(frames[v]) for v in VIEWS}
    for view, stream in ((contract.HEAD_CAMERA, "head_rgb"), (contract.WRIST_CAMERA, "wrist_rgb")):
        raw = np.asarray(on_disk[stream][0])
        assert received[view].shape == raw.shape == (224, 224, 3), view
        assert np.array_equal(received[view], raw), \
            f"{when}: {view} raw 224x224 frames: {_difference(received[view], raw)}"

    images = {}
    for crop_name, crops in CROPS.items():
        episode = episodes[crop_name]
        # The policy node's observation assembly, fed what its callbacks would store.
        assembler = ObservationAssembler(VIEWS, RESOLUTION, RuntimeConfig(), crops)
        for view in VIEWS:
            assembler.add_frame(view, contract.stamp_seconds(frames[view].header.stamp), received[view])
        ee = on_disk["ee_pose"][0]
        assembler.add_state(0.0, ee[:3], ee[3:], float(gripper_closure(on_disk["gripper"][0])))
        obs, reason = assembler.assemble(now=0.0)   # sim time: the frames are 0 s old
        assert obs is not None, reason
        for view in VIEWS:
            node_input, training_input = obs.images[view], episode.frames[view][0]
            assert node_input.shape == training_input.shape == (RESOLUTION, RESOLUTION, 3)
            assert node_input.dtype == training_input.dtype == np.uint8
            assert node_input.tobytes() == training_input.tobytes(), \
                f"{when}, {crop_name}: {view} model input: {_difference(node_input, training_input)}"
            # Guards against a vacuous match (e.g. two black frames) and shows the comparison is
            # sensitive: later in the episode the arm has moved in both views (in the head crop,
            # once it reaches down into the workspace).
            assert node_input.std() > 10.0, view
            assert any(node_input.tobytes() != f.tobytes() for f in episode.frames[view][1:]), view
        images[crop_name] = obs.images
    # the crop is applied: the cropped head input differs from the whole one, the wrist input does not
    cropped, whole = images["head crop"], images["whole frames"]
    assert cropped[contract.HEAD_CAMERA].tobytes() != whole[contract.HEAD_CAMERA].tobytes()
    assert cropped[contract.WRIST_CAMERA].tobytes() == whole[contract.WRIST_CAMERA].tobytes()


def test_dataset_and_node_give_identical_model_input(node_processes, tmp_path):
    t_start = time.monotonic()
    # The node's start-up (imports, model build) overlaps with the recording below.
    sim = node_processes.start(
        [sys.executable, "-m", "gr2_drivers.sim_node", "--ros-args", "--params-file", str(SIM_CONFIG),
         "-p", "mode:=lockstep", "-p", f"task:={TASK}", "-p", f"setting:={SETTING}", "-p", f"seed:={SEED}",
         # thread priorities do not touch pixels; normal priority spares this shared 2-core machine
         "-p", "realtime_priority:=0", "-p", "support_priority:=0"],
        name="sim_node")
    receiver = Receiver()
    try:
        meta, on_disk, episodes = record_dataset(tmp_path)
        assert meta["frames"] > 1 and all(e.length == meta["frames"] for e in episodes.values())

        # 1. The state the node starts in.
        frames = wait_for(receiver.first_frames, timeout=45.0, what="the sim node's idle frames of both cameras")
        node_processes.assert_running()
        with receiver.lock:
            clocks, joint_states = list(receiver.clocks), list(receiver.joint_states)
        # The state never left the reset: no step (no /clock), joint states at sim time 0 ...
        assert not clocks, f"the sim stepped: /clock {contract.stamp_seconds(clocks[-1].clock)}"
        assert joint_states and contract.stamp_seconds(joint_states[-1].header.stamp) == 0.0
        # ... and the dataset's frame 0 state (stored as float32).
        np.testing.assert_array_equal(np.float32(joint_states[-1].position[:7]), on_disk["joint_pos"][0])
        assert_same_model_input(frames, on_disk, episodes, "start-up")

        # 2. Step the sim off that state (a frame of a later sim time goes out), then /gr2/sim/reset
        # with the same parameters: the reset state is published again, not the old frames.
        wait_for(lambda: receiver.commands.get_subscription_count() > 0, timeout=10.0, what="the command subscriber")
        hold = list(joint_states[-1].position[:7])
        for i in range(12):   # one control period (4 ms) each; a frame is due at >= 1/30 s
            receiver.commands.publish(JointCommand(name=list(contract.ARM_JOINTS), position=hold, velocity=[0.0] * 7))
            wait_for(lambda: len(receiver.clocks) > i, timeout=10.0, what=f"/clock after command {i}")  # noqa: B023 (waited for here)
        wait_for(lambda: all(contract.stamp_seconds(m.header.stamp) > 0.0 for m in receiver.latest().values()),
                 timeout=10.0, what="frames of a later sim time")
        assert receiver.reset.wait_for_service(timeout_sec=10.0)
        response = receiver.reset.call_async(Trigger.Request())
        wait_for(response.done, timeout=10.0, what="the /gr2/sim/reset response")
        assert response.result().success and response.result().message == meta["instruction"]
        # Frames of one publisher arrive in order: a sim-time-0 frame after the later ones is the
        # reset state's.
        frames = wait_for(lambda: receiver.latest(stamp=0.0), timeout=10.0, what="the reset state's frames")
        assert_same_model_input(frames, on_disk, episodes, "after /gr2/sim/reset")
        print(f"\ndata path: {TASK}/{SETTING}/seed {SEED} frame 0, raw 224x224 and {RESOLUTION}x{RESOLUTION} "
              f"model inputs byte-identical for {', '.join(VIEWS)} ({' and '.join(CROPS)}), at start-up and after "
              f"a reset ({time.monotonic() - t_start:.1f} s incl. node start-up)")
    finally:
        receiver.close()
    assert node_processes.stop(sim) == 0, node_processes.output(sim)[-3000:]
