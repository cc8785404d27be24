"""Bag round trip over real DDS: publisher process → recorder process → bag → player process → subscriber process.

The publisher publishes known messages of four types (camera Image at 30 Hz, JointState at
50 Hz, gr2_msgs/ActionChunk at 5 Hz, the String instruction at 1 Hz) for RECORD_S = 10 s (the
issue's length) and writes down the exact CDR bytes it sent. The recorder (gr2-bag's node, a
separate process) records them and is stopped with SIGINT. The bag read back with rosbags
must hold exactly those bytes per topic, in order; its layout and MCAP records must be what
rosbag2 writes. Then the player replays the bag at 2x into a subscriber process, which must
receive every message with the recorded relative timing (scaled by the rate).

This file is also the publisher/subscriber program (`python test_bag_roundtrip.py publish|subscribe`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

RECORD_S = 10.0
PLAY_RATE = 2.0
RATES_HZ = {"image": 30.0, "joint_states": 50.0, "action_chunk": 5.0, "instruction": 1.0}


def _topics() -> dict[str, tuple[str, str]]:
    from gr2_contract import ACTION_CHUNK, HEAD_CAMERA, INSTRUCTION, JOINT_STATES, image_topic
    return {"image": (image_topic(HEAD_CAMERA), "sensor_msgs/msg/Image"),
            "joint_states": (JOINT_STATES, "sensor_msgs/msg/JointState"),
            "action_chunk": (ACTION_CHUNK, "gr2_msgs/msg/ActionChunk"),
            "instruction": (INSTRUCTION, "std_msgs/msg/String")}


# ----------------------------------------------------------------------------- peer programs
def _message(kind: str, i: int, stamp_ns: int):
    """The i-th known message of a stream; content varies with i so reordering/loss shows."""
    from geometry_msgs.msg import Pose
    from sensor_msgs.msg import Image, JointState
    from std_msgs.msg import String

    from gr2_contract import ARM_JOINTS, BASE_FRAME
    from gr2_msgs.msg import ActionChunk

    sec, nsec = divmod(stamp_ns, 1_000_000_000)
    if kind == "instruction":
        return String(data=f"pick up the red cube #{i} — ünïcode")
    if kind == "image":
        msg = Image(height=48, width=64, encoding="rgb8", is_bigendian=0, step=64 * 3)
        msg.data = ((np.arange(48 * 64 * 3, dtype=np.uint32) * 7 + i) % 251).astype(np.uint8).tobytes()
    elif kind == "joint_states":
        msg = JointState(name=list(ARM_JOINTS), position=[0.1 * j + 1e-3 * i for j in range(7)],
                         velocity=[-0.01 * j for j in range(7)], effort=[])
    else:
        msg = ActionChunk(dt=0.1, sequence=i, instruction=f"task {i}", gripper=[k / 9 for k in range(10)])
        for k in range(10):
            pose = Pose()
            pose.position.x, pose.position.y, pose.position.z = 0.4 + 1e-3 * k, -0.1 + 1e-4 * i, 0.3
            pose.orientation.w = 1.0
            msg.poses.append(pose)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nsec
    msg.header.frame_id = BASE_FRAME if kind == "action_chunk" else "head_camera_color_optical_frame"
    return msg


def publisher_main(out: Path, duration: float) -> None:
    """Wait until the recorder subscribed to every stream, publish for `duration`, write what was sent."""
    import rclpy
    from rclpy.qos import QoSProfile
    from rclpy.serialization import serialize_message

    from gr2_bringup.bag.ros_types import message_class

    rclpy.init()
    node = rclpy.create_node("bag_test_publisher")
    pubs = {k: node.create_publisher(message_class(t), topic, QoSProfile(depth=50))
            for k, (topic, t) in _topics().items()}
    deadline = time.monotonic() + 30.0
    while not all(p.get_subscription_count() for p in pubs.values()):
        if time.monotonic() > deadline:
            raise SystemExit("recorder never subscribed")
        time.sleep(0.05)
    time.sleep(0.5)  # matching is symmetric only after both sides saw each other
    sent = {k: [] for k in pubs}
    start = time.monotonic()
    next_due = {k: start for k in pubs}
    while (now := time.monotonic()) < start + duration:
        for kind, due in next_due.items():
            if now >= due:
                msg = _message(kind, len(sent[kind]), time.time_ns())
                pubs[kind].publish(msg)
                sent[kind].append(serialize_message(msg).hex())
                next_due[kind] = start + len(sent[kind]) / RATES_HZ[kind]
        time.sleep(max(0.0, min(next_due.values()) - time.monotonic()))
    time.sleep(1.0)  # reliable streams: leave time for the last acknowledgements
    out.write_text(json.dumps(sent))
    node.destroy_node()
    rclpy.try_shutdown()


def subscriber_main(out: Path) -> None:
    """Receive the test topics (reliable) until SIGINT; write (topic, receive time, bytes) per message.

    The receive time is the middleware's reception stamp, not the callback's clock reading, so
    the executor's backlog in this (Python) process does not count as replay timing error.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile

    from gr2_bringup.bag.ros_types import message_class

    rclpy.init()
    node = rclpy.create_node("bag_test_subscriber")
    got = []
    for topic, t in _topics().values():
        node.create_subscription(message_class(t), topic,
                                 lambda data, info, topic=topic: got.append(
                                     (topic, info["received_timestamp"] / 1e9, data.hex())),
                                 QoSProfile(depth=200), raw=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    out.write_text(json.dumps(got))
    rclpy.try_shutdown()


# ----------------------------------------------------------------------------- the test
pytestmark = pytest.mark.multiprocess
HERE = Path(__file__).resolve()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Record RECORD_S of the known streams once; both tests below use the bag."""
    from gr2_testing.processes import ProcessGroup, wait_for

    tmp = tmp_path_factory.mktemp("bag")
    bag, sent_file = tmp / "session", tmp / "sent.json"
    group = ProcessGroup(log_dir=Path(__file__).resolve().parents[1] / "build" / "test_ros_logs")
    try:
        topics = [topic for topic, _ in _topics().values()]
        recorder = group.start([sys.executable, "-m", "gr2_bringup.bag.cli", "record", "-o", str(bag),
                                "--only", *topics], name="bag_recorder")
        publisher = group.start([sys.executable, str(HERE), "publish", str(sent_file), str(RECORD_S)],
                                name="bag_publisher")
        wait_for(lambda: publisher.poll() is not None or recorder.poll() is not None,
                 timeout=RECORD_S + 40, what="the publisher to finish")
        assert publisher.returncode == 0, group.output(publisher)
        assert group.stop(recorder) == 0, group.output(recorder)  # SIGINT: the clean stop path
        assert "finalised" in group.output(recorder) and "Traceback" not in group.output(recorder)
    finally:
        group.stop_all()
    return bag, {k: [bytes.fromhex(h) for h in v] for k, v in json.loads(sent_file.read_text()).items()}


def test_recorded_bag_holds_exactly_what_was_published(recorded):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rclpy.serialization import deserialize_message

    from gr2_bringup.bag.reader import read_info, read_messages
    from gr2_bringup.bag.ros_types import message_class

    bag, sent = recorded
    topics = _topics()
    got = {k: [] for k in topics}
    kind_of = {topic: k for k, (topic, _) in topics.items()}
    for m in read_messages(bag):
        assert m.msgtype == topics[kind_of[m.topic]][1]
        got[kind_of[m.topic]].append(m.data)
    for kind in topics:
        expected_n = RECORD_S * RATES_HZ[kind]
        assert len(sent[kind]) >= 0.9 * expected_n, f"publisher too slow on {kind}: {len(sent[kind])}"
        assert len(got[kind]) == len(sent[kind]), f"{kind}: recorded {len(got[kind])} of {len(sent[kind])}"
        # Compared decoded: CDR alignment padding is uninitialised memory, so the bytes the
        # publisher serialised for its log may differ from the wire bytes in padding only.
        cls = message_class(topics[kind][1])
        assert [deserialize_message(d, cls) for d in got[kind]] == \
            [deserialize_message(d, cls) for d in sent[kind]], f"{kind}: payloads differ from what was published"

    info = read_info(bag)
    assert info.counts() == {topics[k][0]: len(sent[k]) for k in topics}
    assert RECORD_S - 0.5 < info.duration_s < RECORD_S + 1.0

    # Layout and metadata as rosbag2 (Jazzy, `-s mcap`) writes them.
    files = sorted(p.name for p in bag.iterdir())
    assert files == sorted(["metadata.yaml", f"{bag.name}.mcap"])
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    assert meta["relative_file_paths"] == [f"{bag.name}.mcap"]
    assert meta["message_count"] == sum(map(len, sent.values()))
    assert meta["duration"]["nanoseconds"] == info.end_ns - info.start_ns
    assert meta["starting_time"]["nanoseconds_since_epoch"] == info.start_ns
    from test_bag_core import installed_type_hash  # the hash rosidl generated for the installed type
    for entry in meta["topics_with_message_count"]:
        tm = entry["topic_metadata"]
        assert tm["serialization_format"] == "cdr"
        assert tm["type_description_hash"] == installed_type_hash(tm["type"])
        assert tm["offered_qos_profiles"] and tm["offered_qos_profiles"][0]["reliability"] == "reliable"

    # The MCAP file read independently (mcap + mcap_ros2 decode from the embedded definitions).
    with open(bag / f"{bag.name}.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count == meta["message_count"]
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        chunks = [d for _, c, _, d in reader.iter_decoded_messages(topics=[topics["action_chunk"][0]])]
    assert [c.sequence for c in chunks] == list(range(len(sent["action_chunk"])))
    assert chunks[3].poses[9].position.x == pytest.approx(0.409) and chunks[3].header.frame_id == "base_link"


def test_replay_republishes_every_message_with_recorded_timing(recorded, node_processes, tmp_path):
    from gr2_bringup.bag.reader import read_messages

    bag, _ = recorded
    received_file = tmp_path / "received.json"
    sub = node_processes.start([sys.executable, str(HERE), "subscribe", str(received_file)], name="bag_subscriber")
    player = node_processes.start([sys.executable, "-m", "gr2_bringup.bag.player_node", "--ros-args",
                                   "-p", f"bag:={bag}", "-p", f"rate:={PLAY_RATE}",
                                   "-p", "wait_for_subscribers:=20.0"], name="bag_player")
    player.wait(timeout=RECORD_S / PLAY_RATE + 40)
    assert player.returncode == 0, node_processes.output(player)
    assert node_processes.stop(sub) == 0, node_processes.output(sub)
    received = json.loads(received_file.read_text())

    recorded_msgs = list(read_messages(bag))
    by_topic = lambda seq: {t: [d for tt, d in seq if tt == t] for t in {tt for tt, _ in seq}}  # noqa: E731
    assert by_topic([(t, bytes.fromhex(d)) for t, _, d in received]) == \
        by_topic([(m.topic, m.data) for m in recorded_msgs])

    # Relative timing: the j-th message received on a topic is the j-th recorded on it (checked
    # above); its arrival since the first message's must equal bag time since the first / rate.
    arrivals: dict[str, list[float]] = {}
    for topic, t, _ in received:
        arrivals.setdefault(topic, []).append(t)
    seen: dict[str, int] = {}
    pairs = []
    for m in recorded_msgs:
        j = seen[m.topic] = seen.get(m.topic, -1) + 1
        pairs.append((arrivals[m.topic][j], m.timestamp_ns / 1e9))
    t_recv, t_bag = np.array(pairs).T
    signed = (t_recv - t_recv[0]) - (t_bag - t_bag[0]) / PLAY_RATE
    # A constant offset is the first message's latency, not a timing error: remove it.
    err = np.abs(signed - np.median(signed))
    print(f"replay: first-message offset {np.median(signed) * 1e3:.2f} ms; "
          f"timing error: p50 {np.median(err) * 1e3:.2f} ms, "
          f"p95 {np.percentile(err, 95) * 1e3:.2f} ms, max {err.max() * 1e3:.2f} ms, n={len(err)}")
    assert np.percentile(err, 95) < 0.020 and err.max() < 0.100

if __name__ == "__main__":
    role = sys.argv[1]
    if role == "publish":
        publisher_main(Path(sys.argv[2]), float(sys.argv[3]))
    elif role == "subscribe":
        subscriber_main(Path(sys.argv[2]))
    else:
        raise SystemExit(f"unknown role {role}")
