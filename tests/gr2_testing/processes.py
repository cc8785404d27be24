"""Start node processes for a test and stop exactly those processes afterwards."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path

_LOG_IDS = itertools.count()  # unique log names across every test of a run


class ProcessGroup:
    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, cmd: list[str], name: str | None = None, env: dict | None = None) -> subprocess.Popen:
        """Start `cmd` in its own session; stdout+stderr go to a log file shown on failure."""
        name = name or Path(cmd[0]).name
        log_path = self.log_dir / f"{name}-{os.getpid()}-{next(_LOG_IDS)}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        self._procs.append((proc, log_path))
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        for p, path in self._procs:
            if p is proc:
                return path.read_text(errors="replace")
        raise KeyError("process not started by this group")

    def assert_running(self) -> None:
        for proc, path in self._procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited with {proc.returncode}:\n"
                                     f"{path.read_text(errors='replace')[-4000:]}")

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> int:
        """SIGINT (a user's Ctrl-C), then SIGTERM, then SIGKILL, `timeout` apart, like ros2 launch;
        returns the exit code (-9 only when the process ignored both clean requests)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout / 2)
            except subprocess.TimeoutExpired:
                continue
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return proc.returncode

    def stop_all(self) -> None:
        for proc, _ in reversed(self._procs):
            self.stop(proc)


def wait_for(predicate, timeout: float, period: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period)
    raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
