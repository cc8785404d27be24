"""The benchmark script runs end to end (2 s instead of 60) and writes every reported field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_wbc_bench_writes_its_results(tmp_path):
    out = tmp_path / "wbc.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "wbc_bench.py"), "--duration", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["cycles"] == 400 and r["busy_core_process"]
    for key in ("p50", "p99", "max"):
        assert r["cycle_compute_us"][key] > 0
    assert {"mean", "jitter_std", "jitter_p99_abs", "jitter_max_abs"} <= set(r["command_period_us"])
    assert r["qp_solve_us"]["p50"] > 0 and r["pink"]["pink_p50_us"] > 0 and r["pink"]["samples"] > 10
    assert r["chunks_accepted"] > 3
    assert 0 <= r["deadline_misses_woken_too_late"] <= r["deadline_misses"]
    assert r["environment_empty_cycle"]["cycles"] == 400   # the host baseline runs as long as the measurement
    assert "deadline misses" in proc.stdout
