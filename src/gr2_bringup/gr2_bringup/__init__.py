"""Launch files, parameter YAML and RViz configuration of the GR-2 stack, and a launcher that
starts the same node graph on hosts without ros2 launch."""
