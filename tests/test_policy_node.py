"""The policy node as its own process: instruction + camera frames + robot state in, action chunks out.

The inputs are published by this test process (sensor_msgs/Image frames it makes, a fixed
RobotState); the model is an untrained tiny preset, so what is checked is the node's
behaviour, not task success: chunks stamped with the observation time, no chunk from stale
frames, a new instruction switches, the WBC's stop makes it idle.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from gr2_contract import (
    ACTION_CHUNK,
    CAMERAS,
    INSTRUCTION,
    POLICY_STATUS,
    ROBOT_STATE,
    WBC_STATUS,
    image_topic,
    latched_qos,
)
from gr2_msgs.msg import ActionChunk, PolicyStatus, RobotState, WbcStatus

pytestmark = pytest.mark.multiprocess
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


class Harness:
    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("policy_node_test", context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.chunks: list[ActionChunk] = []
        self.status: list[PolicyStatus] = []
        self.node.create_subscription(ActionChunk, ACTION_CHUNK, self.chunks.append, RELIABLE)
        self.node.create_subscription(PolicyStatus, POLICY_STATUS, self.status.append, RELIABLE)
        self.cams = {c: self.node.create_publisher(Image, image_topic(c), 5) for c in CAMERAS}
        self.state = self.node.create_publisher(RobotState, ROBOT_STATE, 5)
        self.instr = self.node.create_publisher(String, INSTRUCTION, RELIABLE)
        self.wbc = self.node.create_publisher(WbcStatus, WBC_STATUS, latched_qos())
        self.stamps: list[float] = []

    def now(self):
        return self.node.get_clock().now()

    def publish_inputs(self, age: float = 0.0) -> None:
        stamp = (self.now() - rclpy.duration.Duration(seconds=age)).to_msg()
        self.stamps.append(stamp.sec + stamp.nanosec * 1e-9)
        rng = np.random.default_rng(len(self.stamps))
        for cam, pub in self.cams.items():
            img = Image(height=224, width=224, encoding="rgb8", step=224 * 3,
                        data=rng.integers(0, 255, (224, 224, 3), np.uint8).tobytes())
            img.header.stamp, img.header.frame_id = stamp, f"{cam}_color_optical_frame"
            pub.publish(img)
        s = RobotState()
        s.header.stamp, s.header.frame_id = stamp, "base_link"
        s.ee_pose.position.x, s.ee_pose.position.z = 0.45, 0.3
        s.ee_pose.orientation.x, s.ee_pose.orientation.w = 1.0, 0.0  # gripper pointing down
        self.state.publish(s)

    def spin_for(self, seconds: float, feed: bool = True, age: float = 0.0, procs=None) -> None:
        end = time.monotonic() + seconds
        next_feed = 0.0
        while time.monotonic() < end:
            if procs:
                procs.assert_running()
            if feed and time.monotonic() >= next_feed:
                self.publish_inputs(age)
                next_feed = time.monotonic() + 1 / 30
            self.executor.spin_once(timeout_sec=0.01)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def test_policy_node_publishes_stamped_chunks_and_refuses_stale_input(node_processes):
    proc = node_processes.start([sys.executable, "-m", "gr2_policy.policy_node", "--ros-args",
                                 "-p", "untrained_preset:=tiny", "-p", "max_observation_age:=0.3"],
                                name="policy_node")
    h = Harness()
    try:
        # Wait for the node (model load) via its 1 Hz status.
        deadline = time.monotonic() + 90
        while not h.status and time.monotonic() < deadline:
            h.spin_for(0.2, feed=False, procs=node_processes)
        assert h.status, "policy node did not come up within 90 s"
        assert "UNTRAINED" in h.status[-1].message  # honest about what runs

        # Fresh inputs + instruction -> chunks stamped with the stamp of a published frame.
        h.instr.publish(String(data="pick up the red cube"))
        h.spin_for(6.0, procs=node_processes)
        assert len(h.chunks) >= 3, f"only {len(h.chunks)} chunks in 6 s; status: {h.status[-1]}"
        print(f"policy node: {len(h.chunks)} chunks in 6 s, latency p50 {h.status[-1].latency_p50 * 1e3:.1f} ms")
        c = h.chunks[-1]
        assert c.header.frame_id == "base_link" and c.instruction == "pick up the red cube"
        assert len(c.poses) == len(c.gripper) > 0 and c.dt > 0
        published = np.array(h.stamps)
        stamp = c.header.stamp.sec + c.header.stamp.nanosec * 1e-9
        assert np.min(np.abs(published - stamp)) < 1e-6, "chunk stamp is not an observation stamp"
        assert [x.sequence for x in h.chunks] == list(range(len(h.chunks)))
        assert all(np.isfinite([p.position.x, p.position.y, p.position.z]).all() for p in c.poses)

        # Stale frames (1 s old) -> no new chunk, status WAITING with the reason.
        h.spin_for(1.0, age=1.0, procs=node_processes)  # an inference already in flight may still land
        n = len(h.chunks)
        h.spin_for(3.0, age=1.0, procs=node_processes)
        assert len(h.chunks) == n, "published a chunk from stale frames"
        waiting = [s for s in h.status[-3:] if s.state == PolicyStatus.STATE_WAITING]
        assert waiting and "stale" in waiting[-1].message

        # New instruction switches; sequence restarts.
        h.instr.publish(String(data="open the drawer"))
        h.spin_for(3.0, procs=node_processes)
        new = [x for x in h.chunks[n:] if x.instruction == "open the drawer"]
        assert new and new[0].sequence == 0

        # Over-long instruction: rejected with a reason on the status, and the previous task
        # ends (the operator asked for something else); the node keeps running.
        h.instr.publish(String(data="pick " * 500))
        h.spin_for(0.5, procs=node_processes)
        n = len(h.chunks)
        h.spin_for(1.5, procs=node_processes)
        assert len(h.chunks) == n, "the previous task went on after a refused instruction"
        assert "rejected" in h.status[-1].message and h.status[-1].state == PolicyStatus.STATE_IDLE

        # The WBC reports STOPPING (it serves /gr2/stop), then STOPPED -> the policy goes idle at
        # once, drops what is in flight, and stays idle while STOPPED repeats.
        h.instr.publish(String(data="open the drawer"))
        h.spin_for(2.0, procs=node_processes)
        h.wbc.publish(WbcStatus(mode=WbcStatus.MODE_TRACKING))
        h.spin_for(1.0, procs=node_processes)
        n = len(h.chunks)
        assert h.status[-1].state == PolicyStatus.STATE_RUNNING
        h.wbc.publish(WbcStatus(mode=WbcStatus.MODE_STOPPING))
        h.spin_for(0.3, procs=node_processes)
        h.wbc.publish(WbcStatus(mode=WbcStatus.MODE_STOPPED))
        h.spin_for(2.0, procs=node_processes)
        assert len(h.chunks) == n, "a chunk was published after the WBC stopped"
        assert h.status[-1].state == PolicyStatus.STATE_IDLE and "stopped" in h.status[-1].message
        # A new instruction while the WBC still reports STOPPED (it resumes on the same message):
        # the repeated STOPPED status does not cancel it.
        h.instr.publish(String(data="pick up the red cube"))
        h.spin_for(0.2, procs=node_processes)
        h.wbc.publish(WbcStatus(mode=WbcStatus.MODE_STOPPED))
        h.spin_for(2.0, procs=node_processes)
        assert len(h.chunks) > n and h.status[-1].state == PolicyStatus.STATE_RUNNING
    finally:
        h.close()
    assert node_processes.stop(proc) == 0, node_processes.output(proc)[-3000:]
