"""Collect demonstrations: one command that starts the robot part of the graph (config/graph.yaml:
the sim or the real drivers, and the WBC; the policy too with --policy, for corrections) as
processes, and runs the teleop node and the episode recorder (session.py) in this process, in the
foreground, so the keyboard device has the terminal. One bag per episode in --out.

    python -m gr2_bringup.teleop.collect --instruction "pick up the red cube" --device keyboard --out demos

The operator takes control as soon as the WBC is up (teleop.yaml take_control_on_start); Ctrl-C
ends the session (an unfinished episode is kept, marked failed) and stops the graph.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from gr2_contract.config import config_dir

from ..graph import resolve_graph
from ..up import Graph


def main(argv: list[str] | None = None) -> int:
    """Run a recording session (module docstring); 0 when it ended cleanly."""
    parser = argparse.ArgumentParser(prog="python -m gr2_bringup.teleop.collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instruction", required=True, help="the task, recorded with every episode")
    parser.add_argument("--device", default="keyboard", choices=("spacemouse", "gamepad", "keyboard"))
    parser.add_argument("--device-path", default="", help="/dev/hidrawN or /dev/input/jsN (default: found)")
    parser.add_argument("--out", default="demos", help="folder of the episode bags (episode_000, ...)")
    parser.add_argument("--sim", default="true", help="true: the MuJoCo simulation; false: the real robot")
    parser.add_argument("--policy", action="store_true", help="also run the policy (take over to correct it)")
    parser.add_argument("--episodes", type=int, default=0, help="stop after this many episodes (0: Ctrl-C)")
    parser.add_argument("--auto-start", action="store_true",
                        help="start each episode by itself (devices without a start button)")
    parser.add_argument("--teleop-config", default=str(config_dir() / "teleop.yaml"))
    parser.add_argument("arguments", nargs="*", help="further launch arguments name:=value (config/graph.yaml)")
    opts = parser.parse_args(argv)

    launch = {"sim": opts.sim, "record": "false", "part": "robot"}
    launch.update(dict(a.split(":=", 1) for a in opts.arguments))
    specs = resolve_graph(launch)
    if opts.policy:
        specs += resolve_graph({**launch, "part": "inference"})
    graph = Graph(specs)
    graph.start()

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from .session import SessionRecorder
    from .teleop_node import TeleopNode

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ros_args = ["--ros-args", "--params-file", opts.teleop_config, "-p", f"device:={opts.device}",
                "-p", f"device_path:={opts.device_path}", "-p", "take_control_on_start:=true"]
    rclpy.init(args=["collect", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor()
    teleop = session = None
    code = 0
    try:
        teleop = TeleopNode()
        session = SessionRecorder(executor, Path(opts.out), opts.instruction, opts.auto_start, opts.episodes)
        executor.add_node(teleop)
        executor.add_node(session)
        while not stop.is_set() and not session.done:
            executor.spin_once(timeout_sec=0.05)
            exited = {n: c for n, c in graph.exited().items() if n in graph.essential}
            if exited:
                print(f"[collect] {exited} exited: stopping the session", file=sys.stderr, flush=True)
                code = 1
                break
        if session.done:
            time.sleep(0.1)
    finally:
        if session is not None:
            session.close()
            for path, ok in session.finished:
                print(f"[collect] {path} {'success' if ok else 'failure'}", flush=True)
        for node in (teleop, session):
            if node is not None:
                node.destroy_node()
        rclpy.try_shutdown()
        graph.shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
