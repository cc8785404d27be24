"""Bags written by other tools (tests/data/rosbag2: rosbag2's own test bags, MCAP): every
message read and decoded, counts equal the bag's own; an unreadable one refused in one line; a
killed recording read up to its last complete message, with the loss said, and recovered into a
finished bag by `gr2-bag recover`; a recorded definition that differs from the installed one refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2.storage_mcap import parse_qos

from gr2_bringup.bag.reader import BagError, BagMessage, BagWarning, decode, read_info, read_messages

BAGS = Path(__file__).resolve().parent / "data" / "rosbag2"   # rosbag2's own test bags, unchanged (README there)
READABLE = ["bag_with_topics_and_service_events", "cdr_test", "convert_a", "talker", "test_bag_for_seek", "wbag"]


def _summary_count(bag: Path) -> int:
    total = 0
    for f in sorted(bag.glob("*.mcap")):
        with open(f, "rb") as fh:
            total += sum(make_reader(fh).get_summary().statistics.channel_message_counts.values())
    return total


@pytest.mark.parametrize("name", READABLE)
def test_every_message_of_a_rosbag2_bag_is_read_and_decoded(name):
    bag = BAGS / name
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    info = read_info(bag)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BagWarning)      # nothing may go missing
        messages = list(read_messages(bag))
    assert info.message_count == len(messages) == meta["message_count"] == _summary_count(bag)
    per_topic = {t["topic_metadata"]["name"]: t["message_count"] for t in meta["topics_with_message_count"]}
    assert ({k: v for k, v in info.counts().items() if v or per_topic.get(k)}
            == {k: v for k, v in per_topic.items() if v})
    for m in messages:
        decode(m)


# talker.db3's message_definitions table holds one-line stubs for the rcl_interfaces types
# ('uint8 level' for rcl_interfaces/msg/Log): decoding /rosout with them would be wrong, and with
# the installed definition would not be what the bag says; refused.
SQLITE_STUB_DEFINITIONS = {"talker": {"/rosout"}}


def _db3_count(bag: Path) -> int:
    import sqlite3
    total = 0
    for f in sorted(bag.glob("*.db3")):
        with sqlite3.connect(f"file:{f}?mode=ro", uri=True) as db:
            total += db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    return total


@pytest.mark.parametrize("name", READABLE)
def test_every_message_of_a_sqlite3_rosbag2_bag_is_read_and_decoded(name):
    """The same bags in rosbag2's other storage (sqlite3, metadata versions 4-8): counts equal the
    bag's own (metadata.yaml and the messages table), every message decoded."""
    bag = BAGS / "sqlite3" / name
    meta = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    info = read_info(bag)
    assert info.storage == "sqlite3"
    with warnings.catch_warnings():
        warnings.simplefilter("error", BagWarning)
        messages = list(read_messages(bag))
    assert info.message_count == len(messages) == meta["message_count"] == _db3_count(bag)
    refused = set()
    for m in messages:
        try:
            decode(m)
        except BagError as err:
            assert "differs from the installed one" in str(err)
            refused.add(m.topic)
    assert refused == SQLITE_STUB_DEFINITIONS.get(name, set())


def test_a_sqlite3_bag_that_cannot_be_decoded_is_refused_in_one_line():
    out = subprocess.run([sys.executable, "-m", "gr2_bringup.bag.cli", "play",
                          str(BAGS / "sqlite3" / "wrong_rmw_test")],
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode != 0 and "Traceback" not in out.stderr
            and len(out.stderr.strip().splitlines()) == 1), out.stderr


def test_a_bag_that_cannot_be_decoded_is_refused_in_one_line():
    bag = BAGS / "wrong_rmw_test"
    with pytest.raises(BagError, match="serialised as 'wrong_format', not CDR"):
        list(read_messages(bag))
    out = subprocess.run([sys.executable, "-m", "gr2_bringup.bag.cli", "play", str(bag)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_bare_mcap_file_and_a_bag_without_metadata_read_the_same(tmp_path):
    src = BAGS / "talker"
    bare = tmp_path / "talker"
    bare.mkdir()
    shutil.copy(src / "talker.mcap", bare)
    expected = [(m.topic, m.timestamp_ns, m.data) for m in read_messages(src)]
    assert [(m.topic, m.timestamp_ns, m.data) for m in read_messages(bare)] == expected
    assert [(m.topic, m.timestamp_ns, m.data) for m in read_messages(bare / "talker.mcap")] == expected


def _killed(src: Path, into: Path, fraction: float) -> Path:
    """What a recorder killed mid-file leaves: the bag's first MCAP file cut at `fraction` of its
    bytes (no summary, cut mid-record), no metadata.yaml."""
    first = sorted(src.glob("*.mcap"))[0]
    into.mkdir()
    data = first.read_bytes()
    (into / first.name).write_bytes(data[: int(len(data) * fraction)])
    return into


def test_a_killed_recording_reads_to_its_last_complete_message_and_says_so(tmp_path):
    killed = _killed(BAGS / "wbag", tmp_path / "killed", 0.5)
    with pytest.warns(BagWarning, match="unfinished"):
        messages = list(read_messages(killed))
    assert len(messages) == 1246          # all of this file's (one complete chunk before the cut)
    with pytest.warns(BagWarning):
        assert read_info(killed).message_count == 1246
    for m in messages:
        decode(m)


def test_gr2_bag_recover_rewrites_a_killed_recording_as_a_finished_bag(tmp_path):
    first = sorted((BAGS / "talker").glob("*.mcap"))[0]
    killed = _killed(BAGS / "talker", tmp_path / "killed", 0.75)
    with pytest.warns(BagWarning):
        expected = [(m.topic, m.msgtype, m.timestamp_ns, m.data) for m in read_messages(killed)]
    assert expected
    out = tmp_path / "recovered"
    run = subprocess.run([sys.executable, "-m", "gr2_bringup.bag.cli", "recover", str(killed), str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"recovered {len(expected)} messages" in run.stdout
    assert (out / "metadata.yaml").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BagWarning)      # finished: nothing unread, nothing said
        assert [(m.topic, m.msgtype, m.timestamp_ns, m.data) for m in read_messages(out)] == expected
        assert read_info(out).message_count == len(expected)
    with open(next(out.glob("*.mcap")), "rb") as f:
        summary = make_reader(f).get_summary()
    with open(first, "rb") as f:
        original = make_reader(f).get_summary()
    qos = lambda s: {c.topic: c.metadata.get("offered_qos_profiles", "") for c in s.channels.values()}  # noqa: E731
    assert parse_qos(qos(summary)["/topic"]) == parse_qos(qos(original)["/topic"])   # same QoS, any spelling
    again = subprocess.run([sys.executable, "-m", "gr2_bringup.bag.cli", "recover", str(killed), str(out)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_a_recorded_definition_that_differs_from_the_installed_one_is_refused():
    m = next(read_messages(BAGS / "talker", ["/topic"]))
    assert m.msgtype == "std_msgs/msg/String"
    changed = BagMessage(m.topic, m.msgtype, m.timestamp_ns, m.data, "int32 data\n")
    with pytest.raises(BagError, match="differs from the installed one"):
        decode(changed)
