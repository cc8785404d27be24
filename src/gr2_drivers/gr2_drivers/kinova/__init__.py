"""Kinova Gen3 + Robotiq 2F-85 driver core (ROS-free).

`api` loads Kinova's kortex_api lazily, `arm` is the thin adapter over the handful of
kortex_api calls the driver needs, `interpolation` turns 200 Hz joint commands into a
smooth cyclic setpoint, `units` converts Kinova's degrees/percent to REP-103 radians and
fractions, and `driver` is the cyclic state machine (servoing, hold on drops, reconnect
with backoff, faults) that the rclpy node runs.
"""
