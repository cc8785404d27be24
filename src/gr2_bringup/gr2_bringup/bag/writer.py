"""Write a standard rosbag2 bag directory: metadata.yaml + one MCAP file of CDR messages.

A thin layer over `rosbags.rosbag2.Writer` (format version 9, MCAP storage) that takes messages
already serialised (the recorder's raw subscriptions hand over the CDR bytes exactly as they
came off the wire, so nothing is decoded and re-encoded), registers each topic's type with its
full message definition and RIHS01 hash, and records the publishers' offered QoS the way
`ros2 bag record` does, so `ros2 bag play` can offer the same QoS again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from .types import bag_typestore, ensure_type

BAG_VERSION = 9  # rosbag2 metadata version written by Jazzy


@dataclass(frozen=True)
class OfferedQos:
    """One publisher's QoS with rmw enum values (rclpy's policy enums share them)."""

    reliability: int = 1  # RELIABLE
    durability: int = 2  # VOLATILE
    history: int = 1  # KEEP_LAST
    depth: int = 10
    deadline_ns: int = 2**63 - 1  # rmw "infinite"
    lifespan_ns: int = 2**63 - 1
    liveliness: int = 1  # AUTOMATIC
    liveliness_lease_ns: int = 2**63 - 1

    def to_rosbags(self) -> Qos:
        def t(ns: int) -> QosTime:
            return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)

        return Qos(QosHistory(self.history), self.depth, QosReliability(self.reliability),
                   QosDurability(self.durability), t(self.deadline_ns), t(self.lifespan_ns),
                   QosLiveliness(self.liveliness), t(self.liveliness_lease_ns), False)


class BagWriter:
    """Append serialised messages to a new bag; `close()` (or leaving the `with`) finalises it.

    Until close() the MCAP file has no summary and metadata.yaml does not exist, which is
    why the recorder closes on every exit path (SIGINT included), and flushes periodically for
    the paths it cannot close on (SIGKILL, power loss).
    """

    def __init__(self, path: str | Path, typestore: Typestore | None = None):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"bag output {self.path} exists already; choose a new name")
        self.typestore = typestore or bag_typestore()
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add_topic(self, topic: str, msgtype: str, offered_qos: Sequence[OfferedQos | Qos] = ()) -> None:
        """Declare a topic; its type must be installed or already registered in the typestore.
        `offered_qos`: the publishers' QoS (rosbags `Qos` as read back from a bag also works)."""
        if topic in self._connections:
            raise ValueError(f"topic {topic} is already in the bag")
        ensure_type(self.typestore, msgtype)
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=self.typestore, serialization_format="cdr",
            offered_qos_profiles=[q.to_rosbags() if isinstance(q, OfferedQos) else q for q in offered_qos])
        self.counts[topic] = 0

    def has_topic(self, topic: str) -> bool:
        return topic in self._connections

    def write(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        """Store one CDR message; `timestamp_ns` is its receive time (the bag's time axis)."""
        if self.closed:
            raise RuntimeError(f"bag {self.path} is closed")
        self._writer.write(self._connections[topic], int(timestamp_ns), data)
        self.counts[topic] += 1

    def flush(self) -> None:
        """Put every message written so far on disk, so that a recorder killed after this call
        loses nothing before it (`gr2-bag recover` then rewrites the bag). rosbags keeps messages
        in an open MCAP chunk until it holds 1 MiB, seconds of data for a recording without
        images; this closes the chunk early (a smaller chunk: still a valid MCAP file) and flushes
        the file to the OS. Uses rosbags' MCAP writer internals (the version pinned in
        requirements.txt; tests/test_bag_core.py fails if they change)."""
        if self.closed:
            return
        storage = self._writer.storage
        if storage.chunk.msgs:
            storage.close_chunk()
        storage.bio.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()
