"""gr2_bringup.bag cores without ROS processes: type registry, writer/reader, replay timing, restamp."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml

from gr2_bringup.bag.playback import play, restamp
from gr2_bringup.bag.reader import BagError, BagMessage, format_info, read_info, read_messages
from gr2_bringup.bag.types import UnknownMessageType, bag_typestore, ensure_type, msg_file
from gr2_bringup.bag.writer import BagWriter, OfferedQos
from gr2_contract import RECORDED_TOPICS


def installed_type_hash(msgtype: str) -> str:
    """RIHS01 hash that rosidl generated for the installed type (share/<pkg>/msg/<T>.json)."""
    package, _, name = msgtype.split("/")
    for prefix in os.environ["AMENT_PREFIX_PATH"].split(os.pathsep):
        path = Path(prefix) / "share" / package / "msg" / f"{name}.json"
        if path.is_file():
            hashes = json.loads(path.read_text())["type_hashes"]
            return next(h["hash_string"] for h in hashes if h["type_name"] == msgtype)
    raise FileNotFoundError(f"{msgtype}: no type description json installed")


STACK_TYPES = ["gr2_msgs/msg/ActionChunk", "gr2_msgs/msg/JointCommand", "gr2_msgs/msg/GripperCommand",
               "gr2_msgs/msg/RobotState", "gr2_msgs/msg/PolicyStatus", "gr2_msgs/msg/WbcStatus",
               "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo", "sensor_msgs/msg/JointState",
               "std_msgs/msg/String", "diagnostic_msgs/msg/DiagnosticArray", "nav_msgs/msg/Path",
               "visualization_msgs/msg/MarkerArray"]


@pytest.mark.parametrize("msgtype", STACK_TYPES)
def test_bag_type_hashes_equal_the_ones_rosidl_generated(msgtype):
    # The hash goes into metadata.yaml and ros2 bag play checks it against the installed type.
    assert bag_typestore().hash_rihs01(msgtype) == installed_type_hash(msgtype)


def test_gr2_msgs_come_from_their_msg_files():
    store = bag_typestore()
    _, fields = store.fielddefs["gr2_msgs/msg/ActionChunk"]
    assert [f for f, _ in fields] == ["header", "dt", "poses", "gripper", "sequence", "instruction"]
    assert msg_file("gr2_msgs/msg/ActionChunk").read_text().startswith("# A k-step Cartesian")


def test_unknown_and_malformed_types_fail_clearly():
    with pytest.raises(UnknownMessageType, match="no_such_msgs/msg/Thing"):
        ensure_type(bag_typestore(), "no_such_msgs/msg/Thing")
    with pytest.raises(ValueError, match="package/msg/Name"):
        ensure_type(bag_typestore(), "std_msgs/String")


def _string(text: str) -> bytes:
    store = bag_typestore()
    return bytes(store.serialize_cdr(store.types["std_msgs/msg/String"](data=text), "std_msgs/msg/String"))


def _write_demo_bag(path: Path) -> list[BagMessage]:
    msgs = [BagMessage("/gr2/instruction", "std_msgs/msg/String", 1_000_000_000 + i * 250_000_000,
                       _string(f"instruction {i}")) for i in range(5)]
    with BagWriter(path) as writer:
        writer.add_topic("/gr2/instruction", "std_msgs/msg/String", [OfferedQos(reliability=2)])
        for m in msgs:
            writer.write(m.topic, m.timestamp_ns, m.data)
    return msgs


def test_writer_reader_round_trip_and_info(tmp_path):
    bag = tmp_path / "demo"
    msgs = _write_demo_bag(bag)
    read = list(read_messages(bag))
    assert [dataclasses.replace(m, definition=None) for m in read] == msgs
    assert all(m.definition == "string data\n" for m in read)     # the definition the bag carries
    info = read_info(bag)
    assert info.counts() == {"/gr2/instruction": 5} and info.duration_s == pytest.approx(1.0)
    assert "/gr2/instruction" in format_info(info) and "std_msgs/msg/String" in format_info(info)
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos = meta["topics_with_message_count"][0]["topic_metadata"]["offered_qos_profiles"][0]
    assert qos["reliability"] == "best_effort" and qos["durability"] == "volatile"
    with pytest.raises(FileExistsError):
        BagWriter(bag)
    with pytest.raises(KeyError, match="/nope"):
        list(read_messages(bag, ["/nope"]))


def test_a_flushed_bag_holds_every_message_when_the_writer_is_never_closed(tmp_path):
    """What a SIGKILLed recorder leaves: the file as it is on disk, no summary, no metadata.yaml.
    After flush() every message written so far is in it; before, they sit in rosbags' open chunk."""
    import shutil
    import warnings

    from gr2_bringup.bag.reader import BagWarning
    store = bag_typestore()
    writer = BagWriter(tmp_path / "live", store)
    writer.add_topic("/gr2/instruction", "std_msgs/msg/String")
    data = [store.serialize_cdr(store.types["std_msgs/msg/String"](data=f"m{i}"), "std_msgs/msg/String")
            for i in range(20)]
    for i, d in enumerate(data[:10]):
        writer.write("/gr2/instruction", 1_000 + i, d)

    def killed_copy(name):
        shutil.copytree(tmp_path / "live", tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BagWarning)
            return [m.data for m in read_messages(tmp_path / name)]

    assert killed_copy("before_flush") == []
    writer.flush()
    for i, d in enumerate(data[10:]):
        writer.write("/gr2/instruction", 2_000 + i, d)
    writer.flush()
    assert killed_copy("after_flush") == data
    writer.close()
    assert [m.data for m in read_messages(tmp_path / "live")] == data


def test_a_folder_without_a_bag_is_a_clear_error(tmp_path):
    with pytest.raises(BagError, match="not a rosbag2 bag"):
        read_info(tmp_path)


def test_default_recorded_topics_are_the_contract():
    assert "/gr2/action_chunk" in RECORDED_TOPICS and "/head_camera/color/image_raw" in RECORDED_TOPICS


class FakeTime:
    def __init__(self):
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_play_keeps_relative_timing_scaled_by_rate():
    clock = FakeTime()
    stamps = [0, 100_000_000, 150_000_000, 1_150_000_000]
    msgs = [BagMessage("/a", "std_msgs/msg/String", 5_000_000_000 + s, b"") for s in stamps]
    sent, ticks = [], []
    stats = play(msgs, lambda m: sent.append(clock.now() - 100.0), rate=2.0, tick=ticks.append,
                 now=clock.now, sleep=clock.sleep)
    assert sent == pytest.approx([s / 1e9 / 2.0 for s in stamps], abs=1e-9)
    assert stats.published["/a"] == 4 and stats.max_lateness_s == pytest.approx(0.0, abs=1e-9)
    assert ticks[-1] == pytest.approx(5_000_000_000 + stamps[-1], abs=1_000)  # /clock reaches bag time
    with pytest.raises(ValueError):
        play(msgs, print, rate=0.0)


def test_play_stops_when_asked():
    clock = FakeTime()
    msgs = [BagMessage("/a", "t/msg/T", i * 1_000_000_000, b"") for i in range(10)]
    stats = play(msgs, lambda m: None, should_stop=lambda: clock.t > 102.5, now=clock.now, sleep=clock.sleep)
    assert stats.stopped_early and stats.published["/a"] == 3


def test_restamp_shifts_header_stamp_only():
    store = bag_typestore()
    Image, Header, Time = (store.types[t] for t in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                    "builtin_interfaces/msg/Time"))
    import numpy as np
    img = Image(header=Header(stamp=Time(sec=10, nanosec=900_000_000), frame_id="cam"), height=1, width=2,
                encoding="rgb8", is_bigendian=0, step=6, data=np.arange(6, dtype=np.uint8))
    m = BagMessage("/img", "sensor_msgs/msg/Image", 1, bytes(store.serialize_cdr(img, "sensor_msgs/msg/Image")))
    out = store.deserialize_cdr(restamp(m, 200_000_000, store).data, "sensor_msgs/msg/Image")
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (11, 100_000_000)
    assert out.header.frame_id == "cam" and out.data.tolist() == list(range(6))
    s = BagMessage("/s", "std_msgs/msg/String", 1, _string("no header"))
    assert restamp(s, 5, store) == s
