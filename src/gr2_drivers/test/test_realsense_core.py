"""RealSense core pieces that need no device: intrinsics -> CameraInfo, clock mapping, config."""

from __future__ import annotations

import pytest

from gr2_drivers.realsense.camera import CameraConfig
from gr2_drivers.realsense.clock import HardwareClockMapper
from gr2_drivers.realsense.intrinsics import camera_info_fields


def test_intrinsics_to_camera_info():
    import pyrealsense2 as rs
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = 640, 480, 610.0, 609.5, 321.2, 242.8
    intr.model, intr.coeffs = rs.distortion.inverse_brown_conrady, [0.1, 0.2, 0.3, 0.4, 0.5]
    info = camera_info_fields(intr)
    assert info.distortion_model == "plumb_bob" and info.d == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert info.k == pytest.approx([610.0, 0, 321.2, 0, 609.5, 242.8, 0, 0, 1])
    assert info.p[:3] == pytest.approx([610.0, 0, 321.2]) and info.p[5:7] == pytest.approx([609.5, 242.8])


def test_hardware_clock_uses_least_latency_offset_and_resets_on_jump():
    m = HardwareClockMapper()
    # Device exposes at 1.000, 1.033, 1.066 s; the host sees them after 12, 5 and 9 ms.
    assert m.to_host(1000.0, "hardware_clock", 101.012) == pytest.approx(101.012)
    assert m.to_host(1033.0, "hardware_clock", 101.038) == pytest.approx(101.038)
    assert m.to_host(1066.0, "hardware_clock", 101.075) == pytest.approx(101.071)   # best offset 100.005
    assert m.to_host(10.0, "hardware_clock", 101.110) == pytest.approx(101.110)     # clock jumped back
    assert m.resets == 1
    assert m.to_host(1.7e12, "system_time", 5.0) == pytest.approx(1.7e9)


def test_bad_camera_config_is_refused():
    with pytest.raises(ValueError):
        CameraConfig(color_format="yuyv").validate()
    with pytest.raises(FileNotFoundError):
        CameraConfig(playback_file="/nonexistent.db3").validate()
