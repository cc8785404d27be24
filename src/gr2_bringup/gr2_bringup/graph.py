"""The GR-2 node graph as data: which nodes run with which parameters for given launch arguments.

config/graph.yaml is the one description of the graph. launch/robot.launch.py turns it into
launch_ros Node actions; gr2_bringup.up turns it into processes on hosts without `ros2 launch`.
Both call `resolve_graph`, so the two paths cannot drift apart. ROS-free (no rclpy, no launch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gr2_contract.config import config_dir

PARTS = ("all", "robot", "inference")
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class NodeSpec:
    name: str
    package: str
    executable: str
    parameter_files: tuple[Path, ...]
    parameters: dict[str, str] = field(default_factory=dict)  # overrides from launch arguments

    def ros_args(self) -> list[str]:
        """The `--ros-args ...` tail that starts this node as specified."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        for path in self.parameter_files:
            args += ["--params-file", str(path)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={value}"]
        return args


def load_graph(path: Path | None = None) -> dict:
    path = path or config_dir() / "graph.yaml"
    return yaml.safe_load(Path(path).read_text())


def argument_defaults(graph: dict) -> dict[str, str]:
    return {name: str(spec["default"]) for name, spec in graph["arguments"].items()}


def parse_bool(name: str, value: str) -> bool:
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={value!r} is not a boolean (use true or false)")


def _condition_holds(when: str | None, args: dict[str, str]) -> bool:
    if not when:
        return True
    negate = when.startswith("not ")
    name = when[4:].strip() if negate else when.strip()
    if name not in args:
        raise ValueError(f"graph.yaml: condition names unknown argument '{name}'")
    return parse_bool(name, args[name]) != negate


def resolve_graph(overrides: dict[str, str] | None = None, graph: dict | None = None,
                  config: Path | None = None) -> list[NodeSpec]:
    """The nodes to start for these launch arguments (unknown arguments are an error)."""
    graph = graph or load_graph()
    config = config or config_dir()
    args = argument_defaults(graph)
    unknown = set(overrides or {}) - set(args)
    if unknown:
        raise ValueError(f"unknown launch argument(s) {sorted(unknown)}; known: {sorted(args)}")
    args.update(overrides or {})
    if args["part"] not in PARTS:
        raise ValueError(f"launch argument part:={args['part']!r} must be one of {PARTS}")
    nodes = []
    for entry in graph["nodes"]:
        if entry["part"] not in PARTS[1:]:
            raise ValueError(f"graph.yaml: node {entry['name']} has part {entry['part']!r}, not one of {PARTS[1:]}")
        if args["part"] not in ("all", entry["part"]):
            continue
        if not _condition_holds(entry.get("when"), args):
            continue
        files = tuple(config / f for f in entry.get("parameters", []))
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise FileNotFoundError(f"node {entry['name']}: parameter file(s) not found: {missing}")
        params = {param: args[arg] for param, arg in (entry.get("arguments") or {}).items() if args[arg] != ""}
        nodes.append(NodeSpec(entry["name"], entry["package"], entry["executable"], files, params))
    return nodes
