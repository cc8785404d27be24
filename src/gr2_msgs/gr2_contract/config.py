"""Where the stack's configuration (the top-level config/ folder) is, for code that reads it directly.

Nodes get their parameters through --params-file; a few ROS-free pieces (the graph, the robot
description) read config/ themselves. Order: $GR2_CONFIG_DIR (e.g. a mounted volume in docker),
the workspace's config/ ($GR2_WORKSPACE, set by env.sh), then the copy gr2_bringup installs.
"""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    explicit = os.environ.get("GR2_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    workspace = os.environ.get("GR2_WORKSPACE")
    if workspace and (Path(workspace) / "config").is_dir():
        return Path(workspace) / "config"
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory("gr2_bringup")) / "config"
