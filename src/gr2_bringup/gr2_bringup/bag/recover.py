"""Recover a recording that was killed: `gr2-bag recover BAG OUT`.

A recorder that dies without closing its bag (SIGKILL, power loss) leaves MCAP files with no
summary and no metadata.yaml. `gr2-bag info/play/to-dataset` read such a bag as it is (every
complete message, the loss said with a BagWarning), but `ros2 bag play` and other MCAP tools want a
finished bag. This rewrites every complete message, in log-time order and byte for byte, into a new
finished rosbag2 bag (MCAP + metadata.yaml) with each topic's type, recorded definition and offered
QoS; the role `ros2 bag reindex` plays for sqlite3 bags and `mcap recover` for bare MCAP files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2.storage_mcap import parse_qos

from .reader import BagError, BagWarning, _check_definition, _mcap_channels, _mcap_files, _require_cdr, read_messages
from .types import bag_typestore
from .writer import BagWriter


@dataclass
class Recovery:
    """What `recover_bag` wrote. counts: messages per topic; lost: the reader's warnings (what could
    not be read: the cut-off record at the end of each killed file)."""
    source: Path
    output: Path
    counts: dict[str, int] = field(default_factory=dict)
    start_ns: int = 0
    end_ns: int = 0
    lost: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        total = sum(self.counts.values())
        lines = [f"recovered {total} messages on {len(self.counts)} topics from {self.source} into {self.output} "
                 f"({(self.end_ns - self.start_ns) / 1e9:.3f} s)"]
        lines += [f"  {topic}: {n}" for topic, n in sorted(self.counts.items())]
        lines += [f"  not recoverable: {w}" for w in self.lost]
        return "\n".join(lines)


def recover_bag(source: str | Path, output: str | Path) -> Recovery:
    """Rewrite the MCAP bag `source` (finished or killed) as the finished bag `output` (a new
    directory). Raises BagError for a bag that is not MCAP (sqlite3: `ros2 bag reindex`) or whose
    recorded definitions cannot be parsed; FileExistsError when `output` exists."""
    source, output = Path(source), Path(output)
    files = _mcap_files(source)
    if files is None:
        raise BagError(f"{source} is a sqlite3 bag: `ros2 bag reindex {source}` rebuilds its metadata")
    if output.exists():
        raise FileExistsError(f"{output} exists already; choose a new name")
    store = bag_typestore()
    topics = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BagWarning)
        for file in files:
            for channel in _mcap_channels(file)[0].values():
                topics.setdefault(channel.topic, channel)
    recovery = Recovery(source, output, lost=[str(w.message) for w in caught if issubclass(w.category, BagWarning)])
    # Everything that can refuse the bag is checked before the output exists: no half-written bag.
    _require_cdr(source, [(c.topic, c.encoding) for c in topics.values()])
    for channel in topics.values():
        if channel.definition is not None:
            _check_definition(store, channel.msgtype, channel.definition)   # types not installed here
    with BagWriter(output, store) as writer:
        for channel in topics.values():
            writer.add_topic(channel.topic, channel.msgtype, parse_qos(channel.offered_qos))
            recovery.counts[channel.topic] = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BagWarning)     # said once above, from the channel scan
            for m in read_messages(source):
                writer.write(m.topic, m.timestamp_ns, m.data)
                recovery.counts[m.topic] += 1
                recovery.start_ns = recovery.start_ns or m.timestamp_ns
                recovery.end_ns = m.timestamp_ns
    return recovery
