"""`gr2-up`: start the GR-2 node graph as separate processes on hosts without `ros2 launch`.

Reads the same config/graph.yaml as launch/robot.launch.py (through gr2_bringup.graph) and
accepts the same `name:=value` arguments, so `gr2-up sim:=true` and
`ros2 launch gr2_bringup robot.launch.py sim:=true` start the same nodes with the same
parameters. Every node is its own OS process talking DDS, as under ros2 launch. Output is
prefixed with the node name. Ctrl-C (SIGINT) is forwarded to every node for a clean
shutdown. Nodes are treated by role (graph.yaml `essential`): if a driver or the WBC exits,
the others are shut down too, because a robot missing its driver or controller must not keep
running half a graph; if the policy, the recorder or RViz exits, the rest runs on (the WBC
brakes and holds without chunks, and accepts a restarted policy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gr2_bringup.dds_shm import remove_stale_port_segments
from gr2_bringup.graph import NodeSpec, parse_bool, resolve_graph

SHUTDOWN_TIMEOUT_S = 10.0


def executable_path(spec: NodeSpec) -> Path:
    """The installed console script of a node (install/<pkg>/lib/<pkg>/<executable>)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        prefix = Path(get_package_prefix(spec.package))
    except PackageNotFoundError as err:
        raise RuntimeError(f"package {spec.package} is not installed: run `make build` "
                           f"(or `colcon build`) and source env.sh / install/setup.bash") from err
    path = prefix / "lib" / spec.package / spec.executable
    if not path.exists():
        raise RuntimeError(f"{spec.package} has no executable {spec.executable} at {path}")
    return path


def command(spec: NodeSpec, scratch_dir: Path | None = None) -> list[str]:
    """The node's command line. Its `text_parameters` (the URDF) go into a params file in
    `scratch_dir`, since a 20 kB XML document does not survive `-p name:=value` parsing."""
    extra: tuple[Path, ...] = ()
    if spec.text_parameters:
        if scratch_dir is None:
            raise ValueError(f"node {spec.name} has document parameters: command() needs a scratch_dir")
        path = scratch_dir / f"{spec.name}.params.yaml"
        path.write_text(spec.text_parameters_yaml())
        extra = (path,)
    return [*spec.prefix(), str(executable_path(spec)), *spec.command_args, *spec.ros_args(extra)]


def default_bag_dir() -> Path:
    """Where record:=true writes, the same place robot.launch.py uses: ./bags/gr2_<time>."""
    return Path.cwd() / "bags" / time.strftime("gr2_%Y%m%d_%H%M%S")


def rosbag2_available() -> bool:
    """Whether `ros2 bag record` really works here: a `ros2` on PATH may lack the bag verb
    (ros2cli without rosbag2) or belong to another Python."""
    if not shutil.which("ros2"):
        return False
    try:
        return subprocess.run(["ros2", "bag", "record", "--help"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def recorder_command(bag_dir: Path) -> list[str]:
    """`ros2 bag record` (MCAP) where rosbag2 is installed, else this workspace's rosbag2 writer."""
    from gr2_contract import RECORDED_TOPICS
    if rosbag2_available():
        return ["ros2", "bag", "record", "--storage", "mcap", "--output", str(bag_dir), *RECORDED_TOPICS]
    return [sys.executable, "-m", "gr2_bringup.bag.cli", "record", "--output", str(bag_dir)]


def _pump(name: str, stream, out) -> None:
    for line in iter(stream.readline, b""):
        out.write(f"[{name}] {line.decode(errors='replace')}")
        out.flush()


class Graph:
    """The running node processes of one bring-up."""

    def __init__(self, specs: list[NodeSpec], bag_dir: Path | None = None):
        # Generated parameter files (robot_description) live as long as the graph runs.
        self._scratch = tempfile.TemporaryDirectory(prefix="gr2-up-") if any(s.text_parameters for s in specs) else None
        scratch_dir = Path(self._scratch.name) if self._scratch else None
        self.commands = {spec.name: command(spec, scratch_dir) for spec in specs}
        self.essential = {spec.name for spec in specs if spec.essential}
        if bag_dir is not None:
            self.commands["recorder"] = recorder_command(bag_dir)
        self.procs: dict[str, subprocess.Popen] = {}

    def close(self) -> None:
        """Remove the generated parameter files (after shutdown, or after a dry run)."""
        if self._scratch:
            self._scratch.cleanup()
            self._scratch = None

    def start(self, out=None) -> None:
        """Start every process; their output goes to `out` (default stdout) prefixed with the name."""
        out = out or sys.stdout
        for name, cmd in self.commands.items():
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            self.procs[name] = proc
            threading.Thread(target=_pump, args=(name, proc.stdout, out), daemon=True).start()
            shown = cmd[:cmd.index("--ros-args")] if "--ros-args" in cmd else cmd
            print(f"[gr2-up] started {name}: {' '.join(shown)} ... pid {proc.pid}", flush=True)

    def exited(self) -> dict[str, int]:
        """Exit codes of the nodes that have ended so far."""
        return {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}

    def first_exited(self) -> tuple[str, int] | None:
        """(name, exit code) of a node that has ended, if any (harnesses: any exit is a failure)."""
        return next(iter(self.exited().items()), None)

    def shutdown(self) -> dict[str, int]:
        """SIGINT to every node (their clean-shutdown path), SIGTERM to those still running after
        half the timeout, SIGKILL after the rest: the escalation ros2 launch uses."""
        for sig, wait in ((signal.SIGINT, SHUTDOWN_TIMEOUT_S / 2), (signal.SIGTERM, SHUTDOWN_TIMEOUT_S / 2)):
            for proc in self.procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(p.poll() is None for p in self.procs.values()):
                time.sleep(0.05)
        codes = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                print(f"[gr2-up] {name} ignored SIGINT and SIGTERM: killing it", flush=True)
                os.killpg(proc.pid, signal.SIGKILL)
            codes[name] = proc.wait()
        self.close()
        return codes


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """`name:=value` items as a dict; SystemExit for an item without `:=`."""
    args = {}
    for item in items:
        if ":=" not in item:
            raise SystemExit(f"gr2-up: arguments are name:=value, got {item!r}")
        name, value = item.split(":=", 1)
        args[name] = value
    return args


def _ros_package_installed(name: str) -> bool:
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    try:
        get_package_prefix(name)
    except (PackageNotFoundError, OSError):
        return False
    return True


# ROS tools that some launch arguments add to the graph (rviz:=true) and that a host without a
# ROS install lacks, each with what to tell the user. Checked in this order, rviz2 first.
HOST_TOOLS = {
    "rviz2": "gr2-up: rviz:=true needs rviz2, which is not installed on this host "
             "(use a ROS 2 Jazzy host: ros2 launch gr2_bringup robot.launch.py rviz:=true)",
    "robot_state_publisher": "gr2-up: rviz:=true needs robot_state_publisher (robot model and TF for "
                             "RViz), which is not installed on this host (ros-jazzy-robot-state-publisher)",
}


def check_host_tools(specs: list[NodeSpec]) -> None:
    """The graph may include ROS tools this host does not have (rviz:=true: rviz2,
    robot_state_publisher): say so with one clear message before anything starts, instead of a
    "package not installed" from deep in the command building or a half-started graph."""
    packages = {spec.package for spec in specs}
    for package, message in HOST_TOOLS.items():
        if package in packages and not _ros_package_installed(package):
            raise SystemExit(message)


def main(argv: list[str] | None = None) -> int:
    """`gr2-up`: start the graph for the launch arguments and watch it until Ctrl-C or an essential node exits.

    Returns 1 when an essential node exited or any node ended with an error, else 0.
    """
    parser = argparse.ArgumentParser(prog="gr2-up", description=__doc__.split("\n\n")[0])
    parser.add_argument("arguments", nargs="*", help="launch arguments as name:=value (see config/graph.yaml)")
    parser.add_argument("--dry-run", action="store_true", help="print the node commands and exit")
    opts = parser.parse_args(argv)
    args = parse_launch_arguments(opts.arguments)
    specs = resolve_graph(args)
    check_host_tools(specs)  # before building commands: they need the tools' install paths
    bag_dir = default_bag_dir() if parse_bool("record", args.get("record", "false")) else None
    graph = Graph(specs, bag_dir)
    if opts.dry_run:
        for cmd in graph.commands.values():
            print(" ".join(cmd))
        graph.close()
        return 0
    if bag_dir:
        print(f"[gr2-up] recording to {bag_dir}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    for line in remove_stale_port_segments().messages():
        print(f"[gr2-up] {line}", flush=True)
    graph.start()
    essential_exit = None
    reported: set[str] = set()
    while not stop.is_set():
        for name, code in graph.exited().items():
            if name in reported:
                continue
            reported.add(name)
            if name in graph.essential:
                essential_exit = name
                print(f"[gr2-up] {name} exited with code {code}: the robot part is incomplete, "
                      f"shutting the graph down", flush=True)
                break
            print(f"[gr2-up] {name} exited with code {code}; the rest of the graph runs on "
                  f"(restart it by hand to continue)", flush=True)
        if essential_exit:
            break
        stop.wait(0.2)
    codes = graph.shutdown()
    failed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT)}
    print(f"[gr2-up] stopped: {codes}", flush=True)
    return 1 if essential_exit or failed else 0


if __name__ == "__main__":
    sys.exit(main())
