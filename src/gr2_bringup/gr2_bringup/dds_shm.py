"""Fast DDS shared-memory ports left uninitialised: find and remove them before a bring-up.

Fast DDS (2.14, Jazzy's default RMW) gives each participant a shared-memory port, a file
`/dev/shm/fastrtps_port<N>` that the creating process sizes right after opening it. A process
killed between the two (`kill -9`, a power cut, the OOM killer) leaves the file at size 0, and
every later participant that maps port N (same domain, same participant index) spins forever in
its constructor, ignoring SIGTERM; `fastdds shm clean` does not remove such a file. A live port
segment is never empty once created, so a size-0 port file that no process holds open and that
is older than a creation takes is stale, and removing it is safe.

`robot.launch.py` and `gr2-up` call `remove_stale_port_segments` before they start the nodes.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

SHM_DIR = Path("/dev/shm")
PORT_SEGMENT = re.compile(r"fastrtps_port\d+")
# s: a port file younger than this may be one a starting participant is sizing right now
MIN_AGE_S = 10.0


@dataclass
class PortSegmentCheck:
    """What a check found: stale segments removed (or to remove), and empty segments some live
    process holds open (pid -> paths), left alone: that process is most likely hung on them."""
    stale: list[Path]
    held: dict[int, list[Path]]
    not_removed: list[Path] = field(default_factory=list)   # stale, but this user may not delete them

    def messages(self) -> list[str]:
        """One line per finding, for the bring-up's log (empty when there is nothing to say)."""
        lines = [f"removed a stale Fast DDS shared-memory port (size 0, no process has it open): {p}"
                 for p in self.stale]
        lines += [f"process {pid} holds empty Fast DDS port(s) {', '.join(map(str, paths))} and is most likely "
                  f"hung creating its participant: stop it (kill -9 {pid}) if nodes do not start"
                  for pid, paths in self.held.items()]
        lines += [f"a stale Fast DDS shared-memory port (size 0) that this user may not delete: {p}; "
                  "nodes that map it hang at start-up until it is removed" for p in self.not_removed]
        return lines


def open_paths(proc: Path = Path("/proc")) -> dict[Path, int]:
    """Files held open by the processes this user may inspect: path -> pid (one of them).
    Processes that vanish or deny access while being read are skipped."""
    held: dict[Path, int] = {}
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                held.setdefault(Path(os.readlink(fd)), int(entry.name))
            except OSError:
                continue
    return held


def check_port_segments(shm_dir: Path = SHM_DIR, min_age_s: float = MIN_AGE_S, now: float | None = None,
                        held: dict[Path, int] | None = None) -> PortSegmentCheck:
    """Empty `fastrtps_port<N>` files in `shm_dir` older than `min_age_s` (s, by mtime against `now`,
    default the wall clock): those no process holds open are `stale`, the others `held` by pid.
    `held` (path -> pid) defaults to `open_paths()`. A missing `shm_dir` finds nothing."""
    now = time.time() if now is None else now
    if not shm_dir.is_dir():
        return PortSegmentCheck([], {})
    empty = []
    for path in sorted(shm_dir.iterdir()):
        if not PORT_SEGMENT.fullmatch(path.name):
            continue
        try:
            st = path.stat()
        except OSError:     # removed meanwhile
            continue
        if st.st_size == 0 and now - st.st_mtime >= min_age_s:
            empty.append(path)
    if not empty:
        return PortSegmentCheck([], {})
    held = open_paths() if held is None else held
    result = PortSegmentCheck([], {})
    for path in empty:
        pid = held.get(path)
        if pid is None:
            result.stale.append(path)
        else:
            result.held.setdefault(pid, []).append(path)
    return result


def remove_stale_port_segments(shm_dir: Path = SHM_DIR, min_age_s: float = MIN_AGE_S) -> PortSegmentCheck:
    """`check_port_segments`, then delete the stale ones. Returns the check, `stale` listing only
    what was removed and `not_removed` what this user may not delete."""
    found = check_port_segments(shm_dir, min_age_s)
    removed = []
    for path in found.stale:
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:     # removed meanwhile
            continue
        except PermissionError:
            found.not_removed.append(path)
    found.stale = removed
    return found
