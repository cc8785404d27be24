"""Intel RealSense camera core (ROS-free): device selection, streaming, intrinsics, clocks.

`camera` opens a device by serial number (or a recorded file) with pyrealsense2 and hands
out frames, `intrinsics` turns SDK intrinsics into CameraInfo fields, `clock` maps the
camera's hardware timestamps to host time. The rclpy node is gr2_drivers.realsense_camera_node.
"""
