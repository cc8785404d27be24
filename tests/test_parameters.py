"""gr2_contract.parameters: the one way nodes declare their parameters (from a dataclass), and
every node's parameter dataclass against the config/*.yaml section it is started with.

The helper is checked twice: with FakeParameterNode, a test double with the duck-typed
declare_parameter it relies on, and with a real rclpy node in this process (parameter overrides
as --params-file / -p give them, rclpy's type enforcement, descriptors).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import yaml

from gr2_contract.config import config_dir
from gr2_contract.parameters import (
    ParameterSpec,
    ParameterTypeError,
    declare,
    declare_dataclass,
    declare_mapping,
    flatten,
    parameter_defaults,
)


@dataclass
class Pose:
    parent: str = "world"
    pos: tuple[float, ...] = (0.0, 0.0, 1.0)


@dataclass
class Example:
    name: str = field(default="cam", metadata={"description": "the camera's name"})
    rate: float = 30.0
    count: int = 3
    enabled: bool = False
    topics: list[str] = field(default_factory=lambda: ["/a", "/b"])
    gains: list[float] = field(default_factory=lambda: [1, 2.5])     # ints become floats
    empty: list[str] = field(default_factory=list)
    head: Pose = field(default_factory=Pose)


class FakeParameterNode:
    """Test double of an rclpy node's declare_parameter: overrides as a parameter file would give
    them, no type enforcement (so the helper's own check is what is tested)."""

    def __init__(self, **overrides):
        self.overrides = overrides
        self.declared: dict[str, object] = {}
        self.descriptors: dict[str, object] = {}

    def declare_parameter(self, name, value=None, descriptor=None):
        assert name not in self.declared, f"{name} declared twice"
        self.declared[name], self.descriptors[name] = value, descriptor
        if name in self.overrides:
            return SimpleNamespace(value=self.overrides[name])
        is_type = type(value).__name__ == "Type"      # rclpy.parameter.Parameter.Type: declared by type only
        return SimpleNamespace(value=None if is_type else value)


def test_defaults_flat_dotted_and_typed():
    node = FakeParameterNode()
    got = declare_dataclass(node, Example)
    assert got == Example(gains=[1.0, 2.5])
    assert all(isinstance(g, float) for g in got.gains)
    assert set(node.declared) == {"name", "rate", "count", "enabled", "topics", "gains", "empty",
                                  "head.parent", "head.pos"}
    assert node.declared["gains"] == [1.0, 2.5] and node.declared["head.pos"] == [0.0, 0.0, 1.0]
    assert isinstance(got.head.pos, tuple)      # arrays come back as the annotated list or tuple
    assert node.descriptors["name"].description == "the camera's name"
    assert parameter_defaults(Example)["head.pos"] == [0.0, 0.0, 1.0]
    assert flatten(got) == parameter_defaults(Example)


def test_overrides_prefix_and_instance_defaults():
    node = FakeParameterNode(**{"t.rate": 15, "t.topics": ("/x",), "t.head.pos": [1, 2, 3], "t.enabled": True})
    got = declare_dataclass(node, Example(count=7), prefix="t.")
    assert got.rate == 15.0 and isinstance(got.rate, float)   # an int is a valid float
    assert got.topics == ["/x"] and got.enabled is True and got.count == 7
    assert got.head == Pose("world", (1.0, 2.0, 3.0))
    assert set(node.declared) == {f"t.{n}" for n in ("name", "rate", "count", "enabled", "topics", "gains",
                                                     "empty", "head.parent", "head.pos")}


@pytest.mark.parametrize("name, value, message", [
    ("rate", "fast", "'rate' must be float, got 'fast' (str)"),
    ("count", 2.5, "'count' must be int"),
    ("count", True, "'count' must be int"),          # a bool is no int here
    ("enabled", 1, "'enabled' must be bool"),
    ("topics", "/a", "'topics' must be list of str"),
    ("gains", [1.0, "x"], "'gains' must be list of float, got 'x' (str) as an element"),
    ("head.parent", 3, "'head.parent' must be str"),
])
def test_a_value_of_the_wrong_type_names_the_parameter(name, value, message):
    with pytest.raises(ParameterTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        declare_dataclass(FakeParameterNode(**{name: value}), Example)
    assert issubclass(ParameterTypeError, ValueError)   # the nodes' "bad parameters" paths catch it


def test_unsupported_field_types_and_missing_values():
    @dataclass
    class Bad:
        mapping: dict = field(default_factory=dict)

    @dataclass
    class Required:
        bag: str

    with pytest.raises(ParameterTypeError, match="'mapping'"):
        declare_dataclass(FakeParameterNode(), Bad)
    with pytest.raises(ValueError, match="'bag' .* no default and is not set"):
        declare_dataclass(FakeParameterNode(), Required)
    assert declare_dataclass(FakeParameterNode(bag="b"), Required) == Required("b")
    with pytest.raises(TypeError, match="not a dataclass"):
        declare_dataclass(FakeParameterNode(), dict)


def test_declare_mapping_types_from_the_defaults():
    node = FakeParameterNode(**{"tracking.gain": 3})
    got = declare_mapping(node, {"rate": 200.0, "tracking.gain": 20.0, "limits": (5, 8.0), "boxes": [""],
                                 "process": True})
    assert got == {"rate": 200.0, "tracking.gain": 3.0, "limits": [5.0, 8.0], "boxes": [""], "process": True}
    with pytest.raises(ParameterTypeError, match="'rate'"):
        declare_mapping(FakeParameterNode(rate="x"), {"rate": 200.0})


def test_the_module_imports_without_ros():
    code = "import sys, gr2_contract.parameters; assert not [m for m in sys.modules if m.startswith(('rclpy', 'rcl_'))]"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- a real rclpy node in this process -----------------------------------------------------------

@pytest.fixture
def ros_node():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = []

    def make(**overrides):
        node = Node("params_under_test", context=context, parameter_overrides=[
            Parameter(name, value=value) for name, value in overrides.items()])
        nodes.append(node)
        return node
    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)


def test_with_an_rclpy_node(ros_node):
    from rcl_interfaces.msg import ParameterType
    node = ros_node(**{"rate": 15.0, "topics": ["/x"], "head.pos": [1.0, 2.0, 3.0], "empty": ["/y"]})
    got = declare_dataclass(node, Example)
    assert got == Example(rate=15.0, topics=["/x"], gains=[1.0, 2.5], empty=["/y"], head=Pose("world", (1.0, 2.0, 3.0)))
    assert node.get_parameter("head.parent").value == "world"
    described = {d.name: d for d in node.describe_parameters(["name", "gains", "empty", "count"])}
    assert described["name"].description == "the camera's name"
    assert described["gains"].type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert described["empty"].type == ParameterType.PARAMETER_STRING_ARRAY   # an empty default, declared by type
    assert described["count"].type == ParameterType.PARAMETER_INTEGER
    # an empty array default stays empty when nothing overrides it
    assert declare_dataclass(ros_node(), Example).empty == []


def test_with_an_rclpy_node_wrong_type_and_required(ros_node):
    with pytest.raises(ParameterTypeError, match="parameter 'rate' must be float.*expecting type"):
        declare_dataclass(ros_node(rate="fast"), Example)
    with pytest.raises(ValueError, match="'environment.shelf.center' .* not set"):
        declare(ros_node(), ParameterSpec("environment.shelf.center", list[float]))
    assert declare(ros_node(**{"environment.shelf.center": [1.0, 2.0, 3.0]}),
                   ParameterSpec("environment.shelf.center", list[float])) == [1.0, 2.0, 3.0]


# --- every node's parameter dataclass against its config/*.yaml -----------------------------------

def _sim():
    from gr2_drivers.sim_node import SimParameters
    return parameter_defaults(SimParameters)


def _kinova():
    from gr2_drivers.kinova_arm_node import KinovaParameters
    return parameter_defaults(KinovaParameters)


def _realsense():
    from gr2_drivers.realsense.camera import CameraConfig
    from gr2_drivers.realsense_camera_node import ReconnectParameters
    return {**parameter_defaults(CameraConfig), **parameter_defaults(ReconnectParameters)}


def _teleop():
    from gr2_bringup.teleop.teleop_node import TeleopParameters
    return parameter_defaults(TeleopParameters)


def _policy():
    from gr2_policy.policy_node import PolicyParameters
    from gr2_policy.runtime import RuntimeConfig
    return {**parameter_defaults(PolicyParameters), **parameter_defaults(RuntimeConfig)}


def _wbc():
    from gr2_wbc.config import default_parameters
    from gr2_wbc.wbc_node import WbcNodeParameters
    return {**default_parameters(), **parameter_defaults(WbcNodeParameters)}


# Values the YAML sets for a deployment where the node's own default deliberately differs, so that a
# node started by hand, by a test or as a library does not take them on:
PRIORITIES = {"realtime_priority", "support_priority"}   # SCHED_FIFO: 0 (normal scheduling) unless configured
NODES = {
    # node: (config file, its defaults, YAML keys whose value may differ from the default)
    "sim": ("sim.yaml", _sim, PRIORITIES),
    "kinova_arm": ("kinova.yaml", _kinova, PRIORITIES),
    # camera_name and serial_no are set per node (/head_camera, /wrist_camera sections)
    "realsense_camera": ("realsense.yaml", _realsense, {"camera_name", "serial_no"}),
    # checkpoint: without config/policy.yaml the node must be told which policy to run (it loads
    # none silently); cpu_threads 0 is torch's default, 1 the setting for a host shared with real-time threads
    "policy": ("policy.yaml", _policy, {"checkpoint", "cpu_threads"}),
    # the controller as a library: optimiser in-process at normal priority (ControllerConfig)
    "wbc": ("wbc.yaml", _wbc, PRIORITIES | {"optimiser_process", "optimiser_priority"}),
    "teleop": ("teleop.yaml", _teleop, set()),
}


def _same(shipped, default) -> bool:
    if isinstance(default, (list, tuple)):
        return len(shipped) == len(default) and all(map(_same, shipped, default))
    if isinstance(default, float):
        return shipped == pytest.approx(default, rel=1e-12, abs=0.0)
    return shipped == default


@pytest.mark.parametrize("node", sorted(NODES))
def test_node_parameter_defaults_are_the_shipped_yaml(node):
    """One value per parameter: every key of the node's config/*.yaml is a parameter it declares,
    of the declared type, and its default equals the shipped value (but for the listed deployment
    choices)."""
    filename, defaults_of, deployment = NODES[node]
    sections = yaml.safe_load((config_dir() / filename).read_text())
    defaults = defaults_of()
    for section, body in sections.items():
        shipped = body["ros__parameters"]
        unknown = sorted(set(shipped) - set(defaults))
        assert not unknown, f"{filename} {section}: not parameters of {node}: {unknown}"
        differ = {k: (v, defaults[k]) for k, v in shipped.items()
                  if k not in deployment and not _same(v, defaults[k])}
        assert not differ, f"{filename} {section}: shipped value != node default: {differ}"
        for key, value in shipped.items():   # each shipped value has the declared type
            default = defaults[key]
            spec_type = list[type(default[0])] if isinstance(default, list) and default else type(default)
            declare(FakeParameterNode(**{key: value}), ParameterSpec(key, spec_type, default))
    assert set(deployment) <= set(defaults), sorted(set(deployment) - set(defaults))
    if node != "realsense_camera":   # the others declare every parameter in the shipped file
        missing = sorted(set(defaults) - set(sections["/**"]["ros__parameters"]))
        allowed = {"policy": {"max_future_stamp"}}.get(node, set())
        assert set(missing) <= allowed, f"{filename} does not set {missing}"


def test_wbc_defaults_are_its_controller_config():
    """The WBC's flat controller parameters are ControllerConfig()'s values (no second copy)."""
    from gr2_wbc.config import controller_config_from_params, default_parameters
    from gr2_wbc.controller_config import ControllerConfig
    cfg = controller_config_from_params(default_parameters())
    default = ControllerConfig()
    assert dataclasses.replace(cfg, model=default.model) == default
