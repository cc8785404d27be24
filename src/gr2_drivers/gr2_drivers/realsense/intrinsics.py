"""SDK intrinsics -> sensor_msgs/CameraInfo fields (plain Python, so it is testable alone).

The RealSense colour stream reports Brown-Conrady (or an equivalent variant) with five
coefficients, which is ROS's plumb_bob; Kannala-Brandt is ROS's equidistant.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CameraInfoFields:
    """The sensor_msgs/CameraInfo fields of one stream: size (px), distortion model and D, K, R, P."""
    width: int
    height: int
    distortion_model: str
    d: list[float]
    k: list[float]   # 3x3 row-major
    r: list[float]
    p: list[float]   # 3x4 row-major


def camera_info_fields(intrinsics) -> CameraInfoFields:
    """`intrinsics` is a pyrealsense2.intrinsics (width, height, fx, fy, ppx, ppy, model, coeffs)."""
    model = str(intrinsics.model).split(".")[-1]
    coeffs = [float(c) for c in intrinsics.coeffs]
    if model in ("kannala_brandt4", "ftheta"):
        distortion, d = "equidistant", coeffs[:4]
    else:  # none, brown_conrady, modified_brown_conrady, inverse_brown_conrady
        distortion, d = "plumb_bob", coeffs[:5] + [0.0] * (5 - len(coeffs[:5]))
    fx, fy, cx, cy = float(intrinsics.fx), float(intrinsics.fy), float(intrinsics.ppx), float(intrinsics.ppy)
    return CameraInfoFields(
        width=int(intrinsics.width), height=int(intrinsics.height), distortion_model=distortion, d=d,
        k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )
