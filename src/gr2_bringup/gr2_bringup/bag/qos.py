"""Which QoS the bag tools use per stream, decided from the message type (ROS-free)."""

from __future__ import annotations

# Sensor streams: recorded with the sensor-data profile (best effort, keep last) as the contract
# asks of every sensor subscriber, so a best-effort camera driver is recorded too.
SENSOR_TYPES = frozenset({
    "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/PointCloud2",
})


def is_sensor_stream(msgtype: str) -> bool:
    """Whether `msgtype` ('pkg/msg/Name') is recorded and played with the sensor-data QoS."""
    return msgtype in SENSOR_TYPES
