"""Python message classes for 'pkg/msg/Name' type strings (what the ROS graph reports)."""

from __future__ import annotations

import importlib


def message_class(msgtype: str):
    """The rclpy message class of `msgtype` ('pkg/msg/Name'); LookupError when it is not importable."""
    package, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise LookupError(f"message type {msgtype} is not importable here ({err}); "
                          f"install/source its package") from err
