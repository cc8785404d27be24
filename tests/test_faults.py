"""The fault-injection benchmark's scenarios, shortened (`make bench-faults` runs them in full):
/gr2/stop with the policy running, bad chunks, a refused instruction, CPU load, the policy, the
recorder (its bag then recovered) and the sim killed while moving. Multi-process: the real sim,
WBC and policy nodes over DDS; every joint command is recorded and judged against the URDF
velocity and the WBC's acceleration limits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_faults_never_move_the_arm_beyond_its_limits_or_without_authority(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import faults_bench
    out = tmp_path / "faults.json"
    code = faults_bench.main(["--stop-trials", "2", "--hold-s", "1.5", "--load-s", "4",
                              "--out", str(out), "--log", str(tmp_path / "nodes.log")])
    result = json.loads(out.read_text())
    failed = [r for r in result["rows"] if not r["passed"]]
    assert code == 0 and not failed, json.dumps(failed, indent=1)
    assert [r["fault"] for r in result["rows"]] == ["stop", "stop", "bad_chunks", "bad_input", "load",
                                                    "policy_kill", "recorder_kill", "sim_kill"]
    stops = [r for r in result["rows"] if r["fault"] == "stop"]
    assert all(r["halt_time_s"] < 0.5 and r["acceleration_ratio"] <= 1.0 + result["tolerance"] for r in stops)
