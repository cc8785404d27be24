#!/usr/bin/env bash
# Source ROS 2 Jazzy and the GR-2 workspace, then run the command (default: the bring-up).
set -e
source /opt/ros/jazzy/setup.bash
source /ws/install/setup.bash
exec "$@"
