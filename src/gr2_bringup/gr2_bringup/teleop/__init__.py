"""Teleoperation: input devices (devices), their mapping to a servo twist (mapping), the teleop node,
and demonstration recording sessions (session, collect). Cores are ROS-free."""
