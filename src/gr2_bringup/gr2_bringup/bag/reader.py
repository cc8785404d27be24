"""Read rosbag2 directories (MCAP or sqlite3): a summary for `gr2-bag info`, and messages.

Works on bags from `ros2 bag record` as well as on ours, because it goes through the
`rosbags` reader, which reads the bag's own metadata.yaml and embedded message definitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rosbags.rosbag2 import Reader
from rosbags.typesys.store import Typestore

from .types import bag_typestore


@dataclass(frozen=True)
class TopicSummary:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagInfo:
    path: Path
    storage: str
    files: tuple[str, ...]
    start_ns: int
    end_ns: int
    message_count: int
    topics: dict[str, TopicSummary] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    def counts(self) -> dict[str, int]:
        return {name: t.count for name, t in self.topics.items()}


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp_ns: int  # receive time at the recorder (rosbag2's log time)
    data: bytes  # CDR, exactly as recorded


def _check_bag(path: Path) -> None:
    if not (path / "metadata.yaml").is_file():
        raise FileNotFoundError(
            f"{path} is not a rosbag2 bag directory (no metadata.yaml; a recording that was "
            f"killed without SIGINT is not finalised)")


def read_info(path: str | Path) -> BagInfo:
    path = Path(path)
    _check_bag(path)
    with Reader(path) as reader:
        topics = {
            name: TopicSummary(name, info.msgtype or "", info.msgcount)
            for name, info in sorted(reader.topics.items())
        }
        count = reader.message_count
        # rosbags reports the end as exclusive (last stamp + 1 ns); rosbag2 shows the last stamp.
        start, end = (reader.start_time, reader.end_time - 1) if count else (0, 0)
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return BagInfo(path, meta["storage_identifier"], tuple(meta["relative_file_paths"]),
                   start, end, count, topics)


def format_info(info: BagInfo) -> str:
    lines = [
        f"Bag:       {info.path}",
        f"Storage:   {info.storage} ({', '.join(info.files)})",
        f"Duration:  {info.duration_s:.3f} s",
        f"Start:     {info.start_ns / 1e9:.9f}",
        f"End:       {info.end_ns / 1e9:.9f}",
        f"Messages:  {info.message_count}",
        "Topics:",
    ]
    width = max((len(t) for t in info.topics), default=0)
    for topic in info.topics.values():
        rate = topic.count / info.duration_s if info.duration_s > 0 else 0.0
        lines.append(f"  {topic.name:<{width}}  {topic.count:>7}  {rate:7.1f} Hz  {topic.msgtype}")
    return "\n".join(lines)


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Messages in receive-time order, optionally only those of `topics`."""
    path = Path(path)
    _check_bag(path)
    wanted = set(topics) if topics is not None else None
    with Reader(path) as reader:
        if wanted is not None:
            missing = wanted - set(reader.topics)
            if missing:
                raise KeyError(f"topic(s) {sorted(missing)} not in bag {path} "
                               f"(it has {sorted(reader.topics)})")
        connections = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, timestamp, data in reader.messages(connections=connections):
            yield BagMessage(conn.topic, conn.msgtype, timestamp, bytes(data))


def decode(message: BagMessage, typestore: Typestore | None = None) -> object:
    """The message as a rosbags dataclass (field names as in the .msg)."""
    return (typestore or bag_typestore()).deserialize_cdr(message.data, message.msgtype)
