"""How steadily the simulator's /joint_states arrive while the rest of the stack runs.

The WBC halts (FAULT) when joint states are more than 100 ms late, so the sim's worst gaps, not
its mean rate, decide whether a task runs through. Starts the sim (and optionally the WBC and
the policy with an instruction) from config/graph.yaml as separate processes, listens for
--duration seconds from this process, and reports the gaps between consecutive header stamps
(the sim's own publication times: a gap here is the sim's, not the transport's).

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
        t1 = time.monotonic()
        while time.monotonic() - t1 < args.duration:
            rclpy.spin_once(node, timeout_sec=0.1)
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
    result = {"nodes": names, "sim_priority": args.sim_priority, "duration_s": args.duration,
              "rate_hz": len(stamps) / args.duration, "gap_ms": {"p50": float(np.percentile(gaps, 50)),
              "p99": float(np.percentile(gaps, 99)), "max": float(gaps.max())},
              "gaps_over_100ms": int((gaps > 100).sum()), "cpus": os.cpu_count()}
    priority = args.sim_priority if args.sim_priority is not None else "from sim.yaml"
    print(f"/joint_states with {'+'.join(names)} (sim priority {priority}): "
          f"{result['rate_hz']:.0f} Hz, gap p50 {result['gap_ms']['p50']:.1f} ms, "
          f"p99 {result['gap_ms']['p99']:.1f} ms, "
          f"max {result['gap_ms']['max']:.1f} ms, {result['gaps_over_100ms']} gaps > 100 ms")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
