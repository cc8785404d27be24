"""The one way a node of this stack declares its ROS parameters: from a dataclass.

    @dataclass
    class PlayerParameters:
        bag: str = ""
        rate: float = 1.0
        topics: list[str] = field(default_factory=lambda: [""], metadata={"description": "empty: all"})

    params = declare_dataclass(node, PlayerParameters)   # -> PlayerParameters, filled in

Every field is a parameter of the same name (`prefix` + name); its type is the field's annotation
(bool, int, float, str, or a list/tuple of one of those: an array parameter), its default the
field's default (or the instance's value when an instance is passed), its description the field's
`metadata["description"]`. A field that is itself a dataclass is flattened with a dotted name (the
sim's `head_camera: CameraPose` -> `head_camera.pos`, ...). Parameters that are no dataclass field
(the WBC's flat `tracking.*` names, which gr2_wbc.config maps onto its nested ControllerConfig) go
through `declare_mapping`, the same declaration and check. Values are read back (a --params-file
or -p override wins) and checked against the field type; a value of the wrong type raises
ParameterTypeError naming the parameter. `parameter_defaults` gives the same flat names and
defaults without a node, so a test can hold every node's defaults against its config/*.yaml.

ROS-free at import: the node is duck-typed (`declare_parameter(name, value, descriptor)` returning
something with `.value`). rcl_interfaces is imported when installed, to build a
ParameterDescriptor (type and description); rclpy only to declare a parameter by its type (one
without default, or an empty array, which rclpy would otherwise take for a byte array). rclpy's
own type check of an override (an int for a float parameter is refused) comes first and is
re-raised as ParameterTypeError; the helper's check covers duck-typed nodes.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing
from typing import Any

_SCALARS = (bool, int, float, str)
_ROS_TYPE = {bool: "BOOL", int: "INTEGER", float: "DOUBLE", str: "STRING"}


class ParameterTypeError(TypeError, ValueError):
    """A parameter's value (from a parameter file, the command line or a default) has the wrong type.
    Also a ValueError, so the nodes' "bad parameters" paths (exit 2) catch it."""


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT = _NoDefault()   # a parameter without default: it must be set (dataclasses.MISSING is no field value)


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """One parameter: full name, Python type (a scalar, or a list/tuple of one), default, description."""
    name: str
    type: Any
    default: Any = NO_DEFAULT
    description: str = ""

    @property
    def element(self) -> type | None:
        """The element type of an array parameter, None for a scalar."""
        return _element_type(self.type)


def _element_type(tp) -> type | None:
    origin = typing.get_origin(tp)
    if origin in (list, tuple, collections.abc.Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if len(set(args)) != 1 or args[0] not in _SCALARS:
            raise ParameterTypeError(f"array parameters need one scalar element type (bool, int, float, str), got {tp}")
        return args[0]
    return None


def _check_type(name: str, tp) -> None:
    if tp in _SCALARS or _element_type(tp) is not None:
        return
    raise ParameterTypeError(f"parameter '{name}': type {tp} cannot be a ROS parameter "
                             f"(bool, int, float, str, or a list/tuple of one of them)")


def _type_name(tp) -> str:
    element = _element_type(tp)
    return f"list of {element.__name__}" if element else tp.__name__


def coerce(spec: ParameterSpec, value: Any) -> Any:
    """`value` as `spec.type` (ints are accepted for floats; arrays become the annotated list or
    tuple); ParameterTypeError for anything else."""
    def scalar(tp, v, where):
        if tp is float and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if tp is int and isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        if tp in (bool, str) and isinstance(v, tp):
            return v
        raise ParameterTypeError(f"parameter '{spec.name}' must be {_type_name(spec.type)}, "
                                 f"got {v!r} ({type(v).__name__}){where}")
    element = spec.element
    if element is None:
        return scalar(spec.type, value, "")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ParameterTypeError(f"parameter '{spec.name}' must be {_type_name(spec.type)}, "
                                 f"got {value!r} ({type(value).__name__})")
    items = [scalar(element, v, " as an element") for v in value]
    return tuple(items) if typing.get_origin(spec.type) is tuple else items


def _fields(cls) -> tuple[list[dataclasses.Field], dict[str, Any]]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    cls = cls if isinstance(cls, type) else type(cls)
    return list(dataclasses.fields(cls)), typing.get_type_hints(cls)


def parameter_specs(cls_or_instance, prefix: str = "") -> list[ParameterSpec]:
    """The flat parameters of a dataclass (class or instance): nested dataclasses become dotted
    names; defaults are the instance's values, else the fields' defaults (a field without one has
    no default: the parameter must then be set)."""
    instance = None if isinstance(cls_or_instance, type) else cls_or_instance
    fields, hints = _fields(cls_or_instance)
    specs = []
    for f in fields:
        if not f.init:
            continue
        name, tp = prefix + f.name, hints[f.name]
        if instance is not None:
            default = getattr(instance, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if dataclasses.is_dataclass(tp):
            specs += parameter_specs(default if default is not dataclasses.MISSING else tp, name + ".")
            continue
        _check_type(name, tp)
        spec = ParameterSpec(name, tp, NO_DEFAULT, f.metadata.get("description", ""))
        if default is not dataclasses.MISSING:
            spec = dataclasses.replace(spec, default=coerce(spec, default))
        specs.append(spec)
    return specs


def parameter_defaults(cls_or_instance, prefix: str = "") -> dict[str, Any]:
    """{parameter name: default} of a dataclass as `declare_dataclass` declares it (arrays as lists)."""
    return {s.name: list(s.default) if s.element else s.default
            for s in parameter_specs(cls_or_instance, prefix) if s.default is not NO_DEFAULT}


def flatten(instance, prefix: str = "") -> dict[str, Any]:
    """{parameter name: value} of a dataclass instance, flat as declared (`head_camera.pos`, ...)."""
    return parameter_defaults(instance, prefix)


def _descriptor(spec: ParameterSpec):
    try:
        from rcl_interfaces.msg import ParameterDescriptor, ParameterType
    except ImportError:   # no ROS: a duck-typed node takes None
        return None
    ros = _ROS_TYPE[spec.element or spec.type] + ("_ARRAY" if spec.element else "")
    return ParameterDescriptor(name=spec.name, type=getattr(ParameterType, f"PARAMETER_{ros}"),
                               description=spec.description)


def declare(node, spec: ParameterSpec) -> Any:
    """Declare one parameter on `node` and return its value (the override, else the default) as
    `spec.type`. ParameterTypeError for a value of the wrong type, ValueError for a parameter
    without default that is not set."""
    descriptor = _descriptor(spec)
    if spec.default is NO_DEFAULT or (spec.element and not spec.default):
        # No value to infer the type from (rclpy would call an empty list a byte array): by type.
        from rclpy.parameter import Parameter
        ros = _ROS_TYPE[spec.element or spec.type] + ("_ARRAY" if spec.element else "")
        second = getattr(Parameter.Type, ros)
    else:
        second = list(spec.default) if spec.element else spec.default
    try:
        value = node.declare_parameter(spec.name, second, descriptor).value
    except Exception as err:
        if type(err).__name__ != "InvalidParameterTypeException":
            raise
        raise ParameterTypeError(f"parameter '{spec.name}' must be {_type_name(spec.type)}: {err}") from err
    if value is None:
        if spec.default is NO_DEFAULT:
            raise ValueError(f"parameter '{spec.name}' ({_type_name(spec.type)}) has no default and is not set")
        value = spec.default
    return coerce(spec, value)


def declare_specs(node, specs: list[ParameterSpec]) -> dict[str, Any]:
    """Declare every spec (`declare`); {name: value}."""
    return {s.name: declare(node, s) for s in specs}


def declare_mapping(node, defaults: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Declare flat `defaults` ({name: default}; the type is the default's: a list's is its first
    element's, float if any element is a float) for parameters that are no dataclass field (the
    WBC's `rate`, `tracking.*`, ... which config.py maps onto ControllerConfig); {name: value}."""
    specs = []
    for name, default in defaults.items():
        if isinstance(default, (list, tuple)):
            kinds = {type(v) for v in default}
            element = float if float in kinds else (kinds.pop() if len(kinds) == 1 else None)
            if element is None:
                raise ParameterTypeError(f"parameter '{prefix}{name}': cannot tell the element type of {default!r}")
            tp = list[element]
        else:
            tp = type(default)
        _check_type(prefix + name, tp)
        spec = ParameterSpec(prefix + name, tp)
        specs.append(dataclasses.replace(spec, default=coerce(spec, default)))
    return declare_specs(node, specs)


def declare_dataclass(node, cls_or_instance, prefix: str = ""):
    """Declare every field of a dataclass (class or instance, see `parameter_specs`) as a parameter
    of `node` named `prefix` + field name, and return the dataclass filled in with the values read
    back (nested dataclasses included). ParameterTypeError names a parameter of the wrong type."""
    values = declare_specs(node, parameter_specs(cls_or_instance, prefix))
    return _build(cls_or_instance, prefix, values)


def _build(cls_or_instance, prefix: str, values: dict[str, Any]):
    cls = cls_or_instance if isinstance(cls_or_instance, type) else type(cls_or_instance)
    fields, hints = _fields(cls)
    kwargs = {}
    for f in fields:
        if not f.init:
            continue
        name, tp = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(tp):
            nested = getattr(cls_or_instance, f.name) if not isinstance(cls_or_instance, type) else tp
            kwargs[f.name] = _build(nested, name + ".", values)
        else:
            kwargs[f.name] = values[name]
    return cls(**kwargs)
