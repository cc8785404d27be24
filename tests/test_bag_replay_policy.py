"""Replay drives the policy node: a session bag played (restamped) into the GR-2 policy node
process yields action chunks, evaluated open-loop against the recorded motion.

The session is synthetic (written with the bag writer: both cameras at 15 Hz, robot state at
50 Hz moving +x at 2 cm/s, one instruction) because no recorded session ships with the repo;
the policy is the untrained tiny preset, so the open-loop error is a pipeline check, not a
quality number.
"""

from __future__ import annotations

import re
import sys
import time

import numpy as np
import pytest

from gr2_bringup.bag.open_loop import evaluate, recover_offset
from gr2_bringup.bag.types import bag_typestore
from gr2_bringup.bag.writer import BagWriter
from gr2_contract import ACTION_CHUNK, ARM_JOINTS, CAMERAS, INSTRUCTION, POLICY_STATUS, ROBOT_STATE, image_topic

S = 1_000_000_000
SESSION_S = 5.0


def _write_session(path, t0: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    store = bag_typestore()
    T = store.types
    hdr = lambda t, f: T["std_msgs/msg/Header"](stamp=T["builtin_interfaces/msg/Time"](sec=t // S, nanosec=t % S),  # noqa: E731
                                                frame_id=f)
    rng = np.random.default_rng(0)
    msgs, state_t, state_x, cam_t = [], [], [], []
    for i in range(int(SESSION_S * 15)):
        t = t0 + i * S // 15
        cam_t.append(t)
        for cam in CAMERAS:
            img = T["sensor_msgs/msg/Image"](header=hdr(t, f"{cam}_color_optical_frame"), height=224, width=224,
                                             encoding="rgb8", is_bigendian=0, step=224 * 3,
                                             data=rng.integers(0, 255, 224 * 224 * 3, dtype=np.uint8))
            msgs.append((image_topic(cam), "sensor_msgs/msg/Image", t, img))
    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    for i in range(int(SESSION_S * 50)):
        t = t0 + i * S // 50
        x = 0.45 + 0.02 * i / 50
        state_t.append(t), state_x.append([x, 0.0, 0.3])
        pose = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.3),
                                           orientation=T["geometry_msgs/msg/Quaternion"](x=1.0, y=0.0, z=0.0, w=0.0))
        msgs.append((ROBOT_STATE, "gr2_msgs/msg/RobotState", t, T["gr2_msgs/msg/RobotState"](
            header=hdr(t, "base_link"), ee_pose=pose, ee_twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero),
            gripper_position=np.float32(0.0), gripper_closed=False, joint_names=list(ARM_JOINTS),
            joint_positions=np.zeros(7), joint_velocities=np.zeros(7))))
    msgs.append((INSTRUCTION, "std_msgs/msg/String", t0 + S // 5,
                 T["std_msgs/msg/String"](data="pick up the red cube")))
    with BagWriter(path) as w:
        for topic, msgtype in dict((m[0], m[1]) for m in msgs).items():
            w.add_topic(topic, msgtype)
        for topic, msgtype, t, msg in sorted(msgs, key=lambda m: m[2]):
            w.write(topic, t, store.serialize_cdr(msg, msgtype))
    return np.array(state_t), np.array(state_x), cam_t


def test_offset_recovery_is_exact_and_refuses_foreign_chunks():
    cams = [100, 200, 300, 410]  # irregular: a unique shift
    assert recover_offset([1300, 1100, 1410], cams, tolerance_ns=0) == 1000
    assert recover_offset([1300, 1101, 1410], cams, tolerance_ns=2) == 1000  # float-rounded stamp
    with pytest.raises(ValueError, match="one constant shift"):
        recover_offset([1300, 1150], cams, tolerance_ns=2)
    with pytest.raises(ValueError, match="regular camera clock"):
        recover_offset([1300, 1200], [100, 200, 300, 400], tolerance_ns=0)


@pytest.mark.multiprocess
@pytest.mark.slow
def test_replayed_session_drives_the_policy_node(node_processes, tmp_path):
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from gr2_msgs.msg import ActionChunk, PolicyStatus

    state_t, state_x, cam_t = _write_session(tmp_path / "session", 1_600_000_000 * S)  # stamps years old
    policy = node_processes.start([sys.executable, "-m", "gr2_policy.policy_node", "--ros-args",
                                   "-p", "untrained_preset:=tiny"], name="policy_node")
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("bag_replay_policy_test", context=context)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        chunks, status = [], []
        node.create_subscription(ActionChunk, ACTION_CHUNK, chunks.append, reliable)
        node.create_subscription(PolicyStatus, POLICY_STATUS, status.append, reliable)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 90
        while not status and time.monotonic() < deadline:
            node_processes.assert_running()
            executor.spin_once(timeout_sec=0.1)
        assert status, "policy node did not come up within 90 s"

        player = node_processes.start([sys.executable, "-m", "gr2_bringup.bag.player_node", "--ros-args",
                                       "-p", f"bag:={tmp_path / 'session'}", "-p", "restamp:=true",
                                       "-p", "wait_for_subscribers:=15.0"], name="bag_player")
        deadline = time.monotonic() + SESSION_S + 30
        while player.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # an inference in flight when playback ended
            executor.spin_once(timeout_sec=0.05)
        assert player.returncode == 0, node_processes.output(player)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)

    assert len(chunks) >= 2, f"{len(chunks)} chunks from a {SESSION_S} s replay; status: {status[-1:]}"
    assert {c.instruction for c in chunks} == {"pick up the red cube"}
    logged = re.search(r"restamp offset (\d+) ns", node_processes.output(player))
    assert logged, node_processes.output(player)
    result = evaluate([(c.header.stamp.sec * S + c.header.stamp.nanosec, c.dt,
                        np.array([[p.position.x, p.position.y, p.position.z] for p in c.poses])) for c in chunks],
                      state_t, state_x, cam_t, int(logged.group(1)))
    print(f"open-loop (untrained tiny model): {result}")
    assert result.stamp_offset_ns > 0  # restamped: the recorded 2020 stamps were moved to now
    assert np.isfinite(result.position_error_mean_m) and result.poses > 0
    assert node_processes.stop(policy) == 0


def test_open_loop_from_bags_is_zero_for_chunks_that_follow_the_recording(tmp_path):
    from gr2_bringup.bag.open_loop import evaluate_bags

    t0 = 1_600_000_000 * S
    state_t, state_x, cam_t = _write_session(tmp_path / "session", t0)
    store = bag_typestore()
    T = store.types
    offset = 123_456_789_000
    with BagWriter(tmp_path / "replay") as w:
        w.add_topic(ACTION_CHUNK, "gr2_msgs/msg/ActionChunk")
        for seq, cam in enumerate(cam_t[10:40:10]):
            stamp = cam + offset
            poses = []
            for i in range(5):  # exactly where the recorded arm was at stamp + (i + 1) * dt
                x = 0.45 + 0.02 * ((cam - t0) / S + 0.1 * (i + 1))
                poses.append(T["geometry_msgs/msg/Pose"](
                    position=T["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.3),
                    orientation=T["geometry_msgs/msg/Quaternion"](x=1.0, y=0.0, z=0.0, w=0.0)))
            chunk = T["gr2_msgs/msg/ActionChunk"](
                header=T["std_msgs/msg/Header"](
                    stamp=T["builtin_interfaces/msg/Time"](sec=stamp // S, nanosec=stamp % S), frame_id="base_link"),
                dt=0.1, poses=poses, gripper=np.zeros(5, np.float32), sequence=seq, instruction="x")
            w.write(ACTION_CHUNK, stamp, store.serialize_cdr(chunk, "gr2_msgs/msg/ActionChunk"))
    with pytest.raises(ValueError, match="regular camera clock"):  # the session's 15 Hz grid is perfect
        evaluate_bags(tmp_path / "session", tmp_path / "replay")
    result = evaluate_bags(tmp_path / "session", tmp_path / "replay", offset_ns=offset)
    assert result.chunks == 3 and result.poses == 15 and result.stamp_offset_ns == offset
    assert result.position_error_mean_m < 1e-9 and result.position_error_p95_m < 1e-9
