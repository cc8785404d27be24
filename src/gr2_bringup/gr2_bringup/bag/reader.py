"""Read rosbag2 bags (MCAP or sqlite3): a summary for `gr2-bag info`, and messages.

MCAP bags are read with the `mcap` library from the files themselves: channels, schemas and the
summary's message counts are the truth, whatever metadata.yaml says (or whether it exists; a
bare .mcap file works too), so QoS spelled in any form and channels with or without schema
records read the same. sqlite3 bags are read the same way, from their .db3 files with Python's
sqlite3 (tables topics, messages and, from rosbag2 Iron on, message_definitions). A bag that
cannot be read is refused with one line (BagError); a read that yields fewer messages than the
bag's own counts says so (BagWarning). Messages carry the definition the bag was recorded with;
`decode` uses it for types not installed here and refuses one that differs from the installed one.
"""

from __future__ import annotations

import heapq
import warnings
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from .types import UnknownMessageType, bag_typestore, ensure_type


class BagError(ValueError):
    """A bag this reader cannot read or decode; the message is the one line to show."""


class BagWarning(UserWarning):
    """Fewer messages were read than the bag says it holds."""


@dataclass(frozen=True)
class TopicSummary:
    """One topic of a bag: name, type ('pkg/msg/Name'), message count and serialisation format."""
    name: str
    msgtype: str
    count: int
    encoding: str = "cdr"


@dataclass(frozen=True)
class BagInfo:
    """What `gr2-bag info` shows of a bag: storage, files, time span (ns, receive time) and topics."""
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
    """One recorded message: topic, type, receive time (ns) and its serialised bytes."""
    topic: str
    msgtype: str
    timestamp_ns: int  # receive time at the recorder (rosbag2's log time)
    data: bytes  # CDR, exactly as recorded
    definition: str | None = None  # the definition the bag carries (MCAP ros2msg schema); None: none


def _metadata(path: Path) -> dict | None:
    file = path / "metadata.yaml"
    return yaml.safe_load(file.read_text())["rosbag2_bagfile_information"] if file.is_file() else None


def _mcap_files(path: Path) -> list[Path] | None:
    """The bag's MCAP files in order, or None for another storage (sqlite3)."""
    if path.is_file():
        if path.suffix == ".mcap":
            return [path]
        if path.suffix == ".db3":
            return None
        raise BagError(f"{path} is neither a rosbag2 bag directory nor an .mcap or .db3 file")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such bag")
    meta = _metadata(path)
    if meta is not None:
        if meta.get("storage_identifier") != "mcap":
            return None
        files = [path / f for f in meta.get("relative_file_paths", [])]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise BagError(f"{path}: metadata.yaml lists files that are missing: {missing}")
        return files
    files = sorted(path.glob("*.mcap"))
    if not files:
        if any(path.glob("*.db3")):
            return None
        raise BagError(f"{path} is not a rosbag2 bag (no metadata.yaml, no .mcap or .db3 file)")
    return files


@dataclass
class _Channel:
    topic: str
    msgtype: str
    encoding: str
    definition: str | None     # the ros2msg schema text; None: the channel has no such schema
    offered_qos: str = ""      # rosbag2's offered_qos_profiles channel metadata (YAML), as recorded


def _mcap_channels(file: Path) -> tuple[dict[int, _Channel], dict[int, int], int, int]:
    """(channels by id, message count by channel id, first and last log time) of one MCAP file;
    from its summary, or by reading it through when it has none (a recording that was killed)."""
    from mcap.reader import make_reader
    try:
        with open(file, "rb") as f:
            summary = make_reader(f).get_summary() if _has_summary(file) else None
            if summary is not None and summary.statistics is not None:
                channels = {cid: _channel(c, summary.schemas.get(c.schema_id)) for cid, c in summary.channels.items()}
                st = summary.statistics
                return (channels, dict(st.channel_message_counts), st.message_start_time, st.message_end_time)
        channels, counts, times = {}, {}, []
        for schema, channel, message in _read_through(file):
            channels.setdefault(channel.id, _channel(channel, schema))
            counts[channel.id] = counts.get(channel.id, 0) + 1
            times.append(message.log_time)
        return channels, counts, min(times, default=0), max(times, default=0)
    except BagError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the mcap library raises: one line
        raise BagError(f"{file}: not a readable MCAP file ({type(err).__name__}: {err})") from err


def canonical_type(name: str) -> str:
    """pkg/Name (ROS 1 style, old rosbag2 bags) -> pkg/msg/Name; other names unchanged."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 and all(parts) else name


def _has_summary(file: Path) -> bool:
    from mcap.reader import make_reader
    try:
        with open(file, "rb") as f:
            return make_reader(f).get_summary() is not None
    except Exception:  # noqa: BLE001 - no footer at all: a killed recording
        return False


def _read_through(file: Path):
    """Every complete message of an MCAP file without a summary, in file order. A recording that
    was killed ends in a cut-off record: what precedes it is kept, and the loss is said
    (BagWarning); nothing after the last complete message existed on disk."""
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader
    n = 0
    schemas, channels = {}, {}
    with open(file, "rb") as f:
        try:
            for record in StreamReader(f, skip_magic=False, emit_chunks=False, validate_crcs=False).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    channels[record.id] = record
                elif isinstance(record, Message):
                    channel = channels[record.channel_id]
                    n += 1
                    yield schemas.get(channel.schema_id), channel, record
        except Exception as err:  # noqa: BLE001 - the library's truncation errors vary
            warnings.warn(f"{file}: unfinished (a recording that was killed?): {n} complete messages read, "
                          f"then {type(err).__name__}: {err}", BagWarning, stacklevel=3)


def _channel(channel, schema) -> _Channel:
    return _Channel(channel.topic, canonical_type(schema.name) if schema is not None else "",
                    channel.message_encoding,
                    schema.data.decode(errors="replace") if schema is not None and schema.encoding == "ros2msg"
                    else None,
                    (channel.metadata or {}).get("offered_qos_profiles", ""))


def _mcap_info(path: Path, files: list[Path]) -> BagInfo:
    meta = _metadata(path) if path.is_dir() else None
    declared = {t["topic_metadata"]["name"]: t["topic_metadata"]["type"]
                for t in (meta or {}).get("topics_with_message_count", [])}
    topics: dict[str, TopicSummary] = {}
    starts, ends = [], []
    for file in files:
        channels, counts, start, end = _mcap_channels(file)
        if any(counts.values()):
            starts.append(start)
            ends.append(end)
        for cid, ch in channels.items():
            old = topics.get(ch.topic)
            msgtype = ch.msgtype or canonical_type(declared.get(ch.topic, ""))   # a channel without a schema record
            topics[ch.topic] = TopicSummary(ch.topic, msgtype, (old.count if old else 0) + counts.get(cid, 0),
                                            ch.encoding)
    count = sum(t.count for t in topics.values())
    return BagInfo(path, "mcap", tuple(f.name for f in files), min(starts, default=0) if count else 0,
                   max(ends, default=0) if count else 0, count, dict(sorted(topics.items())))


def _mcap_messages(path: Path, files: list[Path], info: BagInfo, wanted: set[str] | None) -> Iterator[BagMessage]:
    from mcap.reader import make_reader
    topics = [t for t in info.topics.values() if wanted is None or t.name in wanted]
    _require_cdr(path, [(t.name, t.encoding) for t in topics])
    declared = {t.name: t.msgtype for t in info.topics.values()}

    def as_message(schema, channel, message) -> BagMessage:
        ch = _channel(channel, schema)
        return BagMessage(ch.topic, ch.msgtype or canonical_type(declared.get(ch.topic, "")), message.log_time,
                          bytes(message.data), ch.definition)

    def one_file(file: Path):
        if not _has_summary(file):       # unfinished: in file order, which rosbag2 writes in log time
            items = (as_message(*x) for x in _read_through(file))
            yield from sorted((m for m in items if wanted is None or m.topic in wanted), key=lambda m: m.timestamp_ns)
            return
        with open(file, "rb") as f:
            for schema, channel, message in make_reader(f).iter_messages(
                    topics=None if wanted is None else list(wanted), log_time_order=True):
                yield as_message(schema, channel, message)

    yielded: dict[str, int] = {}
    for m in heapq.merge(*(one_file(f) for f in files), key=lambda m: m.timestamp_ns):
        yielded[m.topic] = yielded.get(m.topic, 0) + 1
        yield m
    short = {t.name: (yielded.get(t.name, 0), t.count) for t in topics if yielded.get(t.name, 0) < t.count}
    if short:
        warnings.warn(f"{path}: read fewer messages than the bag holds (read, held): {short}", BagWarning, stacklevel=2)


def read_info(path: str | Path) -> BagInfo:
    """Summary of the MCAP or sqlite3 bag at `path` (a bag directory, or one .mcap or .db3 file).

    Raises FileNotFoundError when there is nothing at `path` and BagError when it is not a readable bag.
    """
    path = Path(path)
    files = _mcap_files(path)
    if files is not None:
        return _mcap_info(path, files)
    return _sqlite_info(path, _sqlite_files(path))


def format_info(info: BagInfo) -> str:
    """The human-readable summary of `gr2-bag info`: storage, duration, counts and rate per topic."""
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
    wanted = set(topics) if topics is not None else None
    files = _mcap_files(path)
    if files is not None:
        info = _mcap_info(path, files)
        if wanted is not None:
            missing = wanted - set(info.topics)
            if missing:
                raise KeyError(f"topic(s) {sorted(missing)} not in bag {path}")
        yield from _mcap_messages(path, files, info, wanted)
        return
    db3 = _sqlite_files(path)
    info = _sqlite_info(path, db3)
    if wanted is not None:
        missing = wanted - set(info.topics)
        if missing:
            raise KeyError(f"topic(s) {sorted(missing)} not in bag {path} (it has {sorted(info.topics)})")
    yield from heapq.merge(*(_sqlite_messages(path, f, wanted) for f in db3), key=lambda m: m.timestamp_ns)


def _sqlite_files(path: Path) -> list[Path]:
    """The bag's .db3 files in order (metadata.yaml's list, else the folder's; or a bare .db3)."""
    if path.is_file():
        if path.suffix == ".db3":
            return [path]
        raise BagError(f"{path} is neither a rosbag2 bag directory nor a .db3 file")
    meta = _metadata(path)
    files = [path / f for f in meta.get("relative_file_paths", [])] if meta else sorted(path.glob("*.db3"))
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BagError(f"{path}: metadata.yaml lists files that are missing: {missing}")
    if not files:
        raise BagError(f"{path} is not a rosbag2 bag (no .mcap or .db3 file)")
    return files


def _require_cdr(path: Path, topics: Iterable[tuple[str, str]]) -> None:
    """Refuse (BagError) a bag whose (topic, serialisation format) pairs include one other than CDR."""
    for name, encoding in topics:
        if encoding != "cdr":
            raise BagError(f"{path}: topic {name} is serialised as {encoding!r}, not CDR: it cannot be decoded")


@contextmanager
def _sqlite(file: Path):
    """A read-only connection to a .db3 file, closed on exit; sqlite errors become BagError."""
    import sqlite3
    try:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            yield db
    except sqlite3.Error as err:
        raise BagError(f"{file}: not a readable rosbag2 sqlite3 file ({err})") from err


def _sqlite_query(file: Path, sql: str) -> list[tuple]:
    with _sqlite(file) as db:
        return db.execute(sql).fetchall()


def _sqlite_topics(file: Path) -> dict[int, _Channel]:
    tables = {r[0] for r in _sqlite_query(file, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"topics", "messages"} <= tables:
        raise BagError(f"{file}: not a rosbag2 sqlite3 file (tables {sorted(tables)})")
    definitions = {}
    if "message_definitions" in tables:
        definitions = {canonical_type(t): d for t, enc, d in _sqlite_query(
            file, "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions")
            if enc == "ros2msg" and d}
    return {tid: _Channel(name, canonical_type(msgtype), fmt, definitions.get(canonical_type(msgtype)), qos or "")
            for tid, name, msgtype, fmt, qos in _sqlite_query(
                file, "SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics")}


def _sqlite_info(path: Path, files: list[Path]) -> BagInfo:
    topics: dict[str, TopicSummary] = {}
    starts, ends = [], []
    for file in files:
        channels = _sqlite_topics(file)
        counts = dict(_sqlite_query(file, "SELECT topic_id, COUNT(*) FROM messages GROUP BY topic_id"))
        (start, end), = _sqlite_query(file, "SELECT MIN(timestamp), MAX(timestamp) FROM messages")
        if start is not None:
            starts.append(start)
            ends.append(end)
        for tid, ch in channels.items():
            old = topics.get(ch.topic)
            topics[ch.topic] = TopicSummary(ch.topic, ch.msgtype, (old.count if old else 0) + counts.get(tid, 0),
                                            ch.encoding)
    count = sum(t.count for t in topics.values())
    return BagInfo(path, "sqlite3", tuple(f.name for f in files), min(starts, default=0), max(ends, default=0),
                   count, dict(sorted(topics.items())))


def _sqlite_messages(path: Path, file: Path, wanted: set[str] | None) -> Iterator[BagMessage]:
    channels = {tid: ch for tid, ch in _sqlite_topics(file).items() if wanted is None or ch.topic in wanted}
    _require_cdr(path, [(ch.topic, ch.encoding) for ch in channels.values()])
    if not channels:
        return
    marks = ",".join("?" * len(channels))
    with _sqlite(file) as db:
        for tid, timestamp, data in db.execute(f"SELECT topic_id, timestamp, data FROM messages WHERE topic_id IN "
                                               f"({marks}) ORDER BY timestamp, id", tuple(channels)):
            ch = channels[tid]
            yield BagMessage(ch.topic, ch.msgtype, timestamp, bytes(data), ch.definition)


def decode(message: BagMessage, typestore: Typestore | None = None) -> object:
    """The message as a rosbags dataclass (field names as in the .msg).

    A type the bag carries a definition of but that is not installed here is decoded with the
    bag's definition; one whose recorded definition differs from the installed one is refused
    (BagError): decoding it with another definition would give wrong values silently."""
    store = typestore or bag_typestore()
    if message.definition is not None:
        _check_definition(store, message.msgtype, message.definition)
    elif message.msgtype not in store.fielddefs:
        try:
            ensure_type(store, message.msgtype)
        except (UnknownMessageType, ValueError) as err:
            raise BagError(f"{message.topic}: the bag carries no definition of {message.msgtype} and {err}") from err
    return store.deserialize_cdr(message.data, message.msgtype)


def _split_definition(msgtype: str, text: str) -> dict[str, str]:
    """A ros2msg schema (the type, then '====...' + 'MSG: pkg/Name' + each dependency) by type."""
    parts, name, lines = {}, msgtype, []
    for line in text.splitlines():
        if line.startswith("=" * 10):
            parts[name] = "\n".join(lines)
            name, lines = None, []
        elif name is None and line.startswith("MSG: "):
            name = canonical_type(line[5:].strip())
        else:
            lines.append(line)
    if name is not None:
        parts[name] = "\n".join(lines)
    return parts


@lru_cache(maxsize=256)
def _parsed(msgtype: str, text: str) -> dict:
    types = {}
    for name, body in _split_definition(msgtype, text).items():
        types.update(_service_event_types(name, body) if name.endswith("_Event") and "/srv/" in name
                     else _msg_types(name, body))
    return types


def _msg_types(name: str, body: str) -> dict:
    from rosbags.typesys import get_types_from_msg
    return get_types_from_msg(body, name)


def _service_event_types(name: str, srv: str) -> dict:
    """A service event type (`pkg/srv/Name_Event`, what rosbag2 records for services) from the
    service definition the bag carries: Name_Request, Name_Response and the event message
    (service_msgs/ServiceEventInfo info, at most one request, at most one response)."""
    package, _, event = name.split("/")
    base = event[: -len("_Event")]
    lines = srv.splitlines()
    cut = lines.index("---") if "---" in lines else len(lines)
    msg_name = lambda suffix: f"{package}/msg/{base}_{suffix}"   # noqa: E731 - rosbags parses msg names
    types = {**_msg_types(msg_name("Request"), "\n".join(lines[:cut])),
             **_msg_types(msg_name("Response"), "\n".join(lines[cut + 1:])),
             **_msg_types(msg_name("Event"), f"service_msgs/ServiceEventInfo info\n{msg_name('Request')}[<=1] request\n"
                                             f"{msg_name('Response')}[<=1] response\n")}
    rename = lambda text: text.replace(f"{package}/msg/{base}_", f"{package}/srv/{base}_")   # noqa: E731
    return {rename(k): _renamed(v, rename) for k, v in types.items()}


def _renamed(value, rename):
    if isinstance(value, str):
        return rename(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_renamed(v, rename) for v in value) if not hasattr(value, "_fields") else value
    return value


_CHECKED: set[tuple[int, str, int]] = set()   # (typestore id, type, definition hash) already checked


def _check_definition(store: Typestore, msgtype: str, text: str) -> None:
    key = (id(store), msgtype, hash(text))
    if key in _CHECKED:          # once per type and definition, not per message
        return
    try:
        recorded = _parsed(msgtype, text)
    except Exception as err:  # noqa: BLE001 - an unparsable schema: one line
        raise BagError(f"{msgtype}: the bag's message definition cannot be parsed ({err})") from err
    new = {name: fields for name, fields in recorded.items() if name not in store.fielddefs}
    for name, fields in recorded.items():
        installed = store.fielddefs.get(name)
        if installed is not None and _wire(installed) != _wire(fields):
            raise BagError(f"{name}: the bag was recorded with a definition that differs from the installed one "
                           f"(recorded {_wire(fields)}, installed {_wire(installed)}); "
                           f"refusing to decode it with the wrong definition")
    if new:
        store.register(new)
    _CHECKED.add(key)


# Spellings of one wire type: ROS 2 maps byte and char to one octet each, like uint8.
_SAME_WIRE = {"byte": "uint8", "char": "uint8", "octet": "uint8"}


def _wire(fielddef) -> tuple:
    """What decoding depends on: the field names and types in order (constants are not on the
    wire; byte/char/uint8 are one octet each)."""
    def canon(desc):
        text = repr(desc)
        for old, new in _SAME_WIRE.items():
            text = text.replace(f"('{old}', ", f"('{new}', ")
        return text
    fields = tuple((f[0], canon(f[1])) for f in fielddef[1])
    # an empty message is one placeholder octet on the wire (what the typestore spells out)
    return fields or (("structure_needs_at_least_one_member", canon((Nodetype.BASE, ("uint8", 0)))),)
