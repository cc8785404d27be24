"""The CPU accounting of bench/joint_state_gaps.py, on a process group of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_busy_process_group_is_charged_its_core_share_and_an_idle_one_none():
    sys.path.insert(0, str(ROOT / "bench"))
    from joint_state_gaps import cpu_shares, thread_times
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        groups = {busy.pid: "busy", idle.pid: "idle"}
        time.sleep(0.3)
        before, t0 = thread_times(groups), time.monotonic()
        time.sleep(1.0)
        rows = cpu_shares(before, thread_times(groups), time.monotonic() - t0)
    finally:
        for p in (busy, idle):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    share = {n: sum(r["core_share"] for r in rows if r["node"] == n) for n in ("busy", "idle")}
    assert share["busy"] > 0.3 and share["idle"] < 0.05, share     # 2 loaded cores: the busy one gets some
    assert all(r["priority"] >= 20 for r in rows)                   # normal scheduling (20 + nice)
