"""The GR-2 node graph as data: which nodes run with which parameters for given launch arguments.

config/graph.yaml is the one description of the graph. launch/robot.launch.py turns it into
launch_ros Node actions; gr2_bringup.up turns it into processes on hosts without `ros2 launch`.
Both call `resolve_graph`, so the two paths cannot drift apart. ROS-free (no rclpy, no launch).

Besides parameter files, a node entry may ask for the robot's URDF as a string parameter
(`urdf_parameter`, robot_state_publisher's `robot_description`) and for command-line arguments
(`command_args`, rviz2's `-d <config>/gr2.rviz`), so RViz and its helpers are graph nodes
like any other instead of special cases in each launch path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gr2_contract.config import config_dir

PARTS = ("all", "robot", "inference")
CONFIG_PLACEHOLDER = "{config}"  # in command_args: the config directory the graph was resolved with
TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class NodeSpec:
    """One node of the resolved graph: what to start (package, executable) and its parameters."""
    name: str
    package: str
    executable: str
    parameter_files: tuple[Path, ...]
    parameters: dict[str, str] = field(default_factory=dict)  # overrides from launch arguments
    # Parameters whose values are whole documents (the URDF): too long and too full of YAML-special
    # characters for `-p name:=value`, so launch passes them as a dict and gr2-up as a params file.
    # Left out of repr so that a failing comparison does not print 20 kB of XML.
    text_parameters: dict[str, str] = field(default_factory=dict, repr=False)
    command_args: tuple[str, ...] = ()  # before --ros-args (rviz2: -d <config file>)
    nice: int = 0                       # scheduling niceness (0..19): >0 yields the CPU to the robot side
    essential: bool = False             # its exit shuts the graph down (drivers, the WBC)

    def prefix(self) -> list[str]:
        """Command prefix that starts the process at its niceness (`nice` is on every Linux)."""
        return ["nice", "-n", str(self.nice)] if self.nice else []

    def ros_args(self, extra_parameter_files: tuple[Path, ...] = ()) -> list[str]:
        """The `--ros-args ...` tail that starts this node as specified; `extra_parameter_files`
        carry `text_parameters` (see `text_parameters_yaml`), written by the caller."""
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        for path in (*self.parameter_files, *extra_parameter_files):
            args += ["--params-file", str(path)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={value}"]
        return args

    def text_parameters_yaml(self) -> str:
        """`text_parameters` as a ROS 2 parameter file (for any node name: the `/**` wildcard)."""
        return yaml.safe_dump({"/**": {"ros__parameters": dict(self.text_parameters)}}, width=float("inf"))


def load_graph(path: Path | None = None) -> dict:
    """The graph description (config/graph.yaml unless `path` is given) as parsed YAML."""
    path = path or config_dir() / "graph.yaml"
    return yaml.safe_load(Path(path).read_text())


def argument_defaults(graph: dict) -> dict[str, str]:
    """The default value of every launch argument of `graph`, as strings."""
    return {name: str(spec["default"]) for name, spec in graph["arguments"].items()}


def parse_bool(name: str, value: str) -> bool:
    """A launch argument's boolean value (true/false, 1/0, yes/no, on/off); ValueError otherwise."""
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={value!r} is not a boolean (use true or false)")


def _ros_package_exists(name: str) -> bool:
    """Whether the ament index of this host knows `name` (what package:// URIs resolve through)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    try:
        get_package_share_directory(name)
    except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH at all
        return False
    return True


def robot_description_xml(config: Path) -> str:
    """The URDF that config/robot.yaml names, as the `robot_description` string for
    robot_state_publisher (and through it RViz's RobotModel).

    The embedded model comes from a pip distribution, not a ROS package, so RViz could not resolve
    its `package://<package_name>/` mesh URIs; those become `file://<package_root>/` URIs. A URDF
    from a real ROS package (kortex_description on a robot host) is passed through unchanged.
    """
    from gr2_description.robot import load_robot_description  # only when a node needs the URDF
    description = load_robot_description(config / "robot.yaml")
    urdf = description.urdf_path.read_text()
    if not _ros_package_exists(description.package_name):
        urdf = urdf.replace(f"package://{description.package_name}/", f"file://{description.package_root}/")
    return urdf


def _command_args(entry: dict, config: Path) -> tuple[str, ...]:
    """An entry's `command_args` with {config} filled in; an argument naming a config file must
    exist, checked here like parameter files so that both launch paths fail the same way."""
    args = []
    for raw in entry.get("command_args") or []:
        arg = str(raw).replace(CONFIG_PLACEHOLDER, str(config))
        if CONFIG_PLACEHOLDER in str(raw) and not Path(arg).exists():
            raise FileNotFoundError(f"node {entry['name']}: file in command_args not found: {arg}")
        args.append(arg)
    return tuple(args)


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
        text_params: dict[str, str] = {}
        if entry.get("urdf_parameter"):
            text_params[entry["urdf_parameter"]] = robot_description_xml(config)
        nice = int(entry.get("nice", 0))
        if not 0 <= nice <= 19:
            raise ValueError(f"node {entry['name']}: nice {nice} outside 0..19")
        essential = entry.get("essential", False)
        if not isinstance(essential, bool):
            raise ValueError(f"graph.yaml: node {entry['name']}: essential must be true or false, got {essential!r}")
        nodes.append(NodeSpec(entry["name"], entry["package"], entry["executable"], files, params,
                              text_params, _command_args(entry, config), nice, essential))
    return nodes
