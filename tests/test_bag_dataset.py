"""to-dataset: a session bag becomes episodes in the sim dataset format (written by gr2_drivers' writer)."""

from __future__ import annotations

import numpy as np
import pytest

from gr2_bringup.bag.dataset import ConvertConfig, convert_bag, extract_episodes, image_rgb
from gr2_bringup.bag.types import bag_typestore
from gr2_bringup.bag.writer import BagWriter
from gr2_contract import ARM_JOINTS, GRIPPER_COMMAND, HEAD_CAMERA, INSTRUCTION, ROBOT_STATE, WRIST_CAMERA, image_topic

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _stamp(store, t):
    return store.types["builtin_interfaces/msg/Time"](sec=t // S, nanosec=t % S)


def _header(store, t, frame="base_link"):
    return store.types["std_msgs/msg/Header"](stamp=_stamp(store, t), frame_id=frame)


def _image(store, t, value, encoding="rgb8"):
    data = np.zeros((6, 8, 3), np.uint8)
    data[..., 0] = value  # red channel carries the frame index
    if encoding == "bgr8":
        data = data[..., ::-1]
    return store.types["sensor_msgs/msg/Image"](header=_header(store, t, "cam"), height=6, width=8, encoding=encoding,
                                                is_bigendian=0, step=24, data=data.ravel().copy())


def _state(store, t, x, closed):
    T = store.types
    pose = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.3),
                                       orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=1.0, z=0.0, w=0.0))
    zero = T["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    names = list(reversed(ARM_JOINTS))  # order differs from ARM_JOINTS: the converter must reorder
    return T["gr2_msgs/msg/RobotState"](
        header=_header(store, t), ee_pose=pose, ee_twist=T["geometry_msgs/msg/Twist"](linear=zero, angular=zero),
        gripper_position=np.float32(0.5 if closed else 0.0), gripper_closed=closed, joint_names=names,
        joint_positions=np.array([10.0 * (6 - i) + x for i in range(7)]), joint_velocities=np.zeros(7))


def _write_session(path, head_frames=60, head_stamp_offset=0):
    """2 s: instruction A at 0.0 s, B at 1.05 s; cameras 30 Hz, state 50 Hz (x = time), gripper cmd at 0.5 s.
    head_frames < 60: the head camera stops; head_stamp_offset (ns): its stamps run ahead of receive time."""
    store = bag_typestore()
    msgs = []
    for i in range(60):
        t = T0 + int(i * S / 30)
        if i < head_frames:
            msgs.append((image_topic(HEAD_CAMERA), "sensor_msgs/msg/Image", t, _image(store, t + head_stamp_offset, i)))
        msgs.append((image_topic(WRIST_CAMERA), "sensor_msgs/msg/Image", t, _image(store, t, 100 + i, "bgr8")))
    for i in range(100):
        t = T0 + i * S // 50
        msgs.append((ROBOT_STATE, "gr2_msgs/msg/RobotState", t, _state(store, t, i / 50, i >= 25)))
    msgs.append((GRIPPER_COMMAND, "gr2_msgs/msg/GripperCommand", T0 + S // 2,
                 store.types["gr2_msgs/msg/GripperCommand"](header=_header(store, T0 + S // 2),
                                                            position=np.float32(1.0), speed=np.float32(0.5),
                                                            force=np.float32(0.5))))
    for t, text in ((T0, "pick up the red cube"), (T0 + 1_050_000_000, "place it in the bowl")):
        msgs.append((INSTRUCTION, "std_msgs/msg/String", t, store.types["std_msgs/msg/String"](data=text)))
    with BagWriter(path) as w:
        for topic, msgtype in dict((m[0], m[1]) for m in msgs).items():
            w.add_topic(topic, msgtype)
        for topic, msgtype, t, msg in sorted(msgs, key=lambda m: m[2]):
            w.write(topic, t, store.serialize_cdr(msg, msgtype))


def test_episodes_are_time_aligned_without_look_ahead(tmp_path):
    _write_session(tmp_path / "session")
    episodes = extract_episodes(tmp_path / "session", ConvertConfig(rate_hz=10.0))
    assert [m["instruction"] for m, _ in episodes] == ["pick up the red cube", "place it in the bowl"]
    meta, s = episodes[0]
    # Steps at 0.0 .. 1.0 s (11 grid points before B at 1.05 s); the last one only supplies the action.
    assert meta["frames"] == 10 and s["head_rgb"].shape == (10, 6, 8, 3) and s["head_rgb"].dtype == np.uint8
    t = np.arange(10) / 10.0
    assert s["head_rgb"][:, 0, 0, 0].tolist() == [int(np.floor(x * 30 + 1e-9)) for x in t]  # latest frame <= t
    assert s["wrist_rgb"][:, 0, 0, 0].tolist() == [100 + int(np.floor(x * 30 + 1e-9)) for x in t]  # bgr8 → rgb
    assert s["ee_pose"][:, 0] == pytest.approx(t, abs=1e-6)
    assert s["ee_pose"][0, 3:].tolist() == [0.0, 1.0, 0.0, 0.0]  # x y z w order kept
    assert s["joint_pos"][0].tolist() == pytest.approx([10.0 * i for i in range(7)])  # reordered to joint_1..7
    assert s["action_ee_pose"][:, 0] == pytest.approx(t + 0.1, abs=1e-6)  # action = next step's pose
    assert s["action_gripper"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]  # command at 0.5 s, in force at t+1
    assert s["gripper"].tolist() == [0, 0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5]
    meta_b, s_b = episodes[1]
    assert meta_b["frames"] == len(s_b["ee_pose"]) == 9  # 1.05 .. 1.95 s: 10 grid points, last is action only
    assert s_b["ee_pose"][0, 0] == pytest.approx(1.04, abs=1e-6)  # state at 1.04 s is the latest before 1.05 s


def test_a_camera_that_stops_ends_the_episode_instead_of_repeating_its_last_frame(tmp_path):
    """The head camera's last frame arrives at 0.5 s: steps more than max_age (0.5 s) after it are
    dropped with the reason (gr2_contract.stamp_problem's rule), not filled with the frozen frame."""
    _write_session(tmp_path / "session", head_frames=16)
    dropped = []
    episodes = extract_episodes(tmp_path / "session", ConvertConfig(rate_hz=10.0), dropped)
    assert [m["instruction"] for m, _ in episodes] == ["pick up the red cube"]
    assert episodes[0][0]["frames"] == 10          # 0.0 .. 1.0 s usable; B (1.05 s on) has no head camera
    assert len(dropped) == 10 and all("head_rgb" in d and "limit 500 ms" in d for d in dropped), dropped
    summary = convert_bag(tmp_path / "session", tmp_path / "data", rate_hz=10.0)
    assert "dropped 10 steps" in summary


def test_frames_stamped_ahead_of_their_receive_time_are_refused_with_the_reason(tmp_path):
    """Issue example of the kind: inputs stamped 2 s in the future (another clock domain)."""
    _write_session(tmp_path / "session", head_stamp_offset=2 * S)
    with pytest.raises(ValueError, match="ahead of this node's clock"):
        convert_bag(tmp_path / "session", tmp_path / "data", rate_hz=10.0)


def test_convert_writes_the_sim_dataset_format(tmp_path):
    from gr2_contract.episode import STREAMS, load_episode

    _write_session(tmp_path / "session")
    summary = convert_bag(tmp_path / "session", tmp_path / "data", rate_hz=10.0)
    assert summary.startswith("wrote 2 episode(s)")
    lines = (tmp_path / "data" / "index.jsonl").read_text().splitlines()
    assert len(lines) == 2
    meta, streams = load_episode(tmp_path / "data" / "session-recorded-000000")
    assert set(streams) == set(STREAMS) and meta["instruction"] == "pick up the red cube" and meta["success"]
    assert all(len(streams[k]) == meta["frames"] for k in STREAMS)


def test_bag_without_cameras_or_instruction_is_refused(tmp_path):
    store = bag_typestore()
    with BagWriter(tmp_path / "b") as w:
        w.add_topic(INSTRUCTION, "std_msgs/msg/String")
        w.write(INSTRUCTION, T0,
                store.serialize_cdr(store.types["std_msgs/msg/String"](data="x"), "std_msgs/msg/String"))
    with pytest.raises(ValueError, match="no messages on"):
        extract_episodes(tmp_path / "b")


def test_unsupported_image_encoding_is_an_error():
    store = bag_typestore()
    img = _image(store, T0, 1)
    img.encoding = "16UC1"
    with pytest.raises(ValueError, match="16UC1"):
        image_rgb(img)


def test_continuous_joint_angles_in_datasets_never_step_by_two_pi():
    """The one unwrapping rule on bag -> dataset: a recording whose driver changed branch (joint_1
    3.4907 -> -2.7925 rad, the same 200 degrees) gives a continuous dataset; limited joints are
    taken as they are."""
    import numpy as np

    from gr2_bringup.bag.dataset import continuous_joints, unwrap_continuous
    continuous = continuous_joints()
    assert continuous.tolist() == [True, False, True, False, True, False, True]   # Gen3: joints 1, 3, 5, 7
    rows = np.zeros((4, 7), np.float32)
    rows[:, 0] = [3.40, 3.4907, 3.4907 - 2 * np.pi, 3.50 - 2 * np.pi]
    rows[:, 1] = [0.1, 0.2, 0.3, 0.4]
    out = unwrap_continuous(rows, continuous)
    np.testing.assert_allclose(out[:, 0], [3.40, 3.4907, 3.4907, 3.50], atol=1e-5)
    np.testing.assert_allclose(out[:, 1], rows[:, 1])
