"""How steadily the simulator's /joint_states arrive while the rest of the stack runs.

The WBC halts (FAULT) when joint states are more than 100 ms late, so the sim's worst gaps, not
its mean rate, decide whether a task runs through. Starts the sim (and optionally the WBC and
the policy with an instruction) from config/graph.yaml as separate processes, listens for
--duration seconds from this process, and reports the gaps between consecutive header stamps
(the sim's own publication times: a gap here is the sim's, not the transport's), and where the
CPU went meanwhile: each node's threads (its child processes included) as a share of one core,
from /proc, with their scheduling priority.

    python bench/joint_state_gaps.py --nodes sim,wbc,policy
    python bench/joint_state_gaps.py --nodes sim,wbc,policy --sim-priority 0   # physics thread not real-time
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LOGS = Path(__file__).resolve().parents[1] / "build" / "joint_state_gaps"   # each node's output


def thread_times(groups: dict[int, str]) -> dict[tuple[int, int], tuple[str, str, int, float]]:
    """CPU seconds so far of every thread of the process groups `groups` (pgid -> node name), keyed
    by (pid, tid): (node, thread name, priority as /proc shows it: -1-rtprio for SCHED_FIFO, 20+nice
    otherwise, seconds). Linux /proc; threads that end between reads are skipped."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pgid = int(stat[stat.rindex(")") + 2:].split()[2])
            if pgid not in groups:
                continue
            for tid in os.listdir(f"/proc/{pid}/task"):
                t = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                f = t[t.rindex(")") + 2:].split()
                name = t[t.index("(") + 1:t.rindex(")")]
                out[(int(pid), int(tid))] = (groups[pgid], name, int(f[15]), (int(f[11]) + int(f[12])) / tick)
        except (OSError, ValueError, IndexError):
            continue
    return out


def cpu_shares(before: dict, after: dict, seconds: float) -> list[dict]:
    """Per thread alive at both reads: its share of one core over `seconds`, largest first."""
    rows = [{"node": a[0], "thread": a[1], "priority": a[2], "core_share": (a[3] - before[k][3]) / seconds}
            for k, a in after.items() if k in before]
    return sorted(rows, key=lambda r: -r["core_share"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="sim,wbc,policy", help="graph.yaml nodes to run (sim first)")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--sim-priority", type=int, default=None,
                        help="override sim.yaml realtime_priority (0: normal scheduling)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: print only)")
    args = parser.parse_args()
    os.environ["ROS_DOMAIN_ID"] = str(random.randint(100, 200))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    import gr2_contract as c
    from gr2_bringup.graph import resolve_graph
    from gr2_bringup.up import command

    LOGS.mkdir(parents=True, exist_ok=True)
    specs = {s.name: s for s in resolve_graph({"sim": "true"})}
    names = args.nodes.split(",")
    procs = []
    for name in names:
        cmd = command(specs[name])
        if name == "sim" and args.sim_priority is not None:
            cmd += ["-p", f"realtime_priority:={args.sim_priority}"]
        procs.append(subprocess.Popen(cmd, stdout=open(LOGS / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
    rclpy.init()
    node = rclpy.create_node("joint_state_gaps")
    stamps: list[float] = []
    node.create_subscription(JointState, c.JOINT_STATES,
                             lambda m: stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9),
                             qos_profile_sensor_data)
    instruction = node.create_publisher(String, c.INSTRUCTION,
                                        QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    try:
        t0 = time.monotonic()
        while len(stamps) < 50 and time.monotonic() - t0 < 120:
            rclpy.spin_once(node, timeout_sec=0.1)
        if "policy" in names:   # wait for the policy to load, then give it a task
            t1 = time.monotonic()
            while time.monotonic() - t1 < 15:
                rclpy.spin_once(node, timeout_sec=0.1)
            instruction.publish(String(data="pick up the green cube"))
        stamps.clear()
        groups = {p.pid: name for p, name in zip(procs, names, strict=True)}
        cpu0, t1 = thread_times(groups), time.monotonic()
        while time.monotonic() - t1 < args.duration:
            rclpy.spin_once(node, timeout_sec=0.1)
        threads = cpu_shares(cpu0, thread_times(groups), time.monotonic() - t1)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for p in procs:
            os.killpg(p.pid, signal.SIGINT)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    if len(stamps) < 2:
        print(f"no /joint_states received (node output in {LOGS})", file=sys.stderr)
        return 1
    gaps = np.diff(stamps) * 1e3
    result = {"command": " ".join(["python", "bench/joint_state_gaps.py", *sys.argv[1:]]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "nodes": names, "sim_priority": args.sim_priority,
              "duration_s": args.duration,
              "rate_hz": len(stamps) / args.duration, "gap_ms": {"p50": float(np.percentile(gaps, 50)),
              "p99": float(np.percentile(gaps, 99)), "max": float(gaps.max())},
              "gaps_over_100ms": int((gaps > 100).sum()), "cpus": os.cpu_count(),
              "core_share_by_node": {n: sum(t["core_share"] for t in threads if t["node"] == n) for n in names},
              "threads": [t for t in threads if t["core_share"] >= 0.01]}
    priority = args.sim_priority if args.sim_priority is not None else "from sim.yaml"
    print(f"/joint_states with {'+'.join(names)} (sim priority {priority}): "
          f"{result['rate_hz']:.0f} Hz, gap p50 {result['gap_ms']['p50']:.1f} ms, "
          f"p99 {result['gap_ms']['p99']:.1f} ms, "
          f"max {result['gap_ms']['max']:.1f} ms, {result['gaps_over_100ms']} gaps > 100 ms")
    print("CPU, share of one core: " + ", ".join(f"{n} {v:.2f}" for n, v in result["core_share_by_node"].items())
          + f" (of {os.cpu_count()})")
    for t in result["threads"][:8]:
        print(f"  {t['core_share']:.2f}  {t['node']:<8} {t['thread']:<16} priority {t['priority']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
