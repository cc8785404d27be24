"""The message type registry that bags are written and decoded with.

rosbags ships the ROS 2 Jazzy standard interfaces; our own gr2_msgs are registered from their
.msg files (the installed share/gr2_msgs/msg, or src/gr2_msgs/msg in a source checkout), so
the definitions exist once. Any other type a user records is looked up the same way in the
`share/<package>/msg` folders of AMENT_PREFIX_PATH, the place rosbag2 itself reads them from.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

OWN_PACKAGE = "gr2_msgs"
_SOURCE_MSG_DIR = Path(__file__).resolve().parents[3] / OWN_PACKAGE / "msg"


class UnknownMessageType(LookupError):
    """A type whose .msg definition is neither built into rosbags nor installed here."""


def _share_msg_dirs(package: str) -> list[Path]:
    dirs = []
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidate = Path(prefix) / "share" / package / "msg"
        if candidate.is_dir():
            dirs.append(candidate)
    if package == OWN_PACKAGE and _SOURCE_MSG_DIR.is_dir():
        dirs.append(_SOURCE_MSG_DIR)
    return dirs


def msg_file(msgtype: str) -> Path:
    """The .msg file that defines `pkg/msg/Name`."""
    package, kind, name = _split(msgtype)
    for directory in _share_msg_dirs(package):
        path = directory / f"{name}.msg"
        if path.is_file():
            return path
    raise UnknownMessageType(
        f"no definition for {msgtype}: {package}/msg/{name}.msg is not in any share/ folder of "
        f"AMENT_PREFIX_PATH (source env.sh, or install the package that defines it)")


def _split(msgtype: str) -> tuple[str, str, str]:
    parts = msgtype.split("/")
    if len(parts) != 3 or parts[1] != "msg" or not all(parts):
        raise ValueError(f"message type {msgtype!r} is not of the form 'package/msg/Name'")
    return parts[0], parts[1], parts[2]


def ensure_type(store: Typestore, msgtype: str) -> None:
    """Register `msgtype` and the types it uses (recursively) if the store lacks them."""
    pending = [msgtype]
    while pending:
        name = pending.pop()
        if name in store.types:
            continue
        text = msg_file(name).read_text()
        new = get_types_from_msg(text, name)
        store.register(new)
        for _consts, fields in new.values():
            for _fname, desc in fields:
                pending.extend(_referenced(desc))


def _referenced(desc) -> list[str]:
    """Type names a rosbags field description refers to (nested messages, arrays of them)."""
    kind, detail = desc
    if kind == Nodetype.NAME:
        return [detail] if isinstance(detail, str) else []
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):  # detail = (element, size)
        return _referenced(detail[0])
    return []


@lru_cache(maxsize=1)
def bag_typestore() -> Typestore:
    """Jazzy standard types plus every gr2_msgs message (from its .msg files)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    dirs = _share_msg_dirs(OWN_PACKAGE)
    if not dirs:
        raise UnknownMessageType(f"cannot find the {OWN_PACKAGE} .msg files (source env.sh)")
    for path in sorted(dirs[0].glob("*.msg")):
        ensure_type(store, f"{OWN_PACKAGE}/msg/{path.stem}")
    return store
