"""End-to-end latency of the stack on the simulated robot (`make bench-e2e`).

Runs the same session as `make demo` (sim, WBC and policy as separate processes over DDS) for
a fixed time without stopping at success, and traces every action chunk: camera frame stamp
-> chunk received -> first /gr2/joint_command whose reference comes from that chunk
(JointCommand.chunk_stamp). Also reports how many WBC cycles ran without a valid reference
while the task was active (must be 0: the policy's asynchronous chunking must keep the WBC fed).
Writes bench/results/e2e.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from gr2_bringup.demo import DemoConfig, run_demo

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds after the instruction")
    parser.add_argument("--task", default="pick_cube")
    parser.add_argument("--checkpoint", default="", help="trained policy (default: untrained preset)")
    parser.add_argument("--untrained-preset", default="tiny-sim")
    parser.add_argument("--out", type=Path, default=RESULTS / "e2e.json")
    args = parser.parse_args()
    cfg = DemoConfig(task=args.task, duration=args.duration, checkpoint=args.checkpoint,
                     untrained_preset="" if args.checkpoint else args.untrained_preset,
                     predict_frames_every=0, out=Path("build") / "bench_e2e", record=False,
                     stop_on_success=False, watch_cameras=False)
    load_before = os.getloadavg()[0]
    session_dir, report = run_demo(cfg)
    result = {
        "benchmark": "e2e", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "duration_s": args.duration,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_avg_before": load_before, "load_avg_after": os.getloadavg()[0]},
        "policy": {k: report["policy"][k] for k in ("checkpoint", "trained", "chunks", "inference_latency_p50_s",
                                                     "inference_latency_p95_s")},
        "latency": report["latency"],
        "wbc": report["wbc"],
        "topic_rates_hz": report["topic_rates_hz"],
        "session": str(session_dir),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float))
    lat, w = report["latency"], report["wbc"] or {}

    def f(d: dict) -> str:
        return f"p50 {d['p50_ms']:.0f} ms, p95 {d['p95_ms']:.0f} ms" if d["p50_ms"] is not None else "n/a"

    print(f"e2e over {args.duration:.0f} s ({result['policy']['checkpoint']}, {lat['chunks_traced_to_a_command']}"
          f"/{lat['chunks_received']} chunks traced):")
    print(f"  camera frame -> chunk received        {f(lat['frame_to_chunk'])}")
    print(f"  chunk -> first joint command using it {f(lat['chunk_to_first_command'])}")
    print(f"  camera frame -> first joint command   {f(lat['frame_to_first_command'])}")
    print(f"  commands not from a chunk after the first ran (holds + FAULT halts): "
          f"{w.get('commands_without_chunk_during_task')}; {w.get('message')!r}")
    print(f"  WBC cycles without reference during the task: {w.get('dry_cycles_during_task')}; "
          f"deadline misses {w.get('deadline_misses')} of {w.get('cycles')}")
    print(f"  -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
