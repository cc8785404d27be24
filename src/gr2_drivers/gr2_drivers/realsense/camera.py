"""One RealSense camera (or a recording of one) through pyrealsense2.

pyrealsense2 is imported when a camera is opened, not at module import, so the sim and the
tests that do not need it never load librealsense.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from gr2_drivers.realsense.intrinsics import CameraInfoFields, camera_info_fields

COLOR_FORMATS = {"rgb8": ("rgb8", 3), "bgr8": ("bgr8", 3)}   # ROS encoding -> (rs.format name, bytes/px)


def aligned_depth_topic(camera_name: str) -> str:
    """realsense-ros name of the depth image aligned to the colour frame (not in the contract v1)."""
    return f"/{camera_name}/aligned_depth_to_color/image_raw"


def color_optical_frame(camera_name: str) -> str:
    """The TF frame of `camera_name`'s colour images (realsense-ros naming)."""
    return f"{camera_name}_color_optical_frame"


@dataclass(frozen=True)
class CameraConfig:
    """One camera's streams (pixels, Hz, colour format), device serial or recording to play."""
    camera_name: str = "camera"
    serial_no: str = ""               # "" = the only connected camera (refused when several)
    width: int = 640
    height: int = 480
    fps: int = 30
    color_format: str = "rgb8"
    enable_depth: bool = False        # publish depth aligned to colour
    depth_width: int = 640
    depth_height: int = 480
    playback_file: str = ""           # a recorded .db3/.bag instead of a device
    playback_loop: bool = False
    frame_timeout_ms: int = 1000

    def validate(self) -> None:
        if self.color_format not in COLOR_FORMATS:
            raise ValueError(f"color_format {self.color_format!r} not one of {sorted(COLOR_FORMATS)}")
        if self.width <= 0 or self.height <= 0 or self.fps <= 0:
            raise ValueError("width, height and fps must be > 0")
        if self.playback_file and not os.path.isfile(self.playback_file):
            raise FileNotFoundError(f"playback_file {self.playback_file!r} does not exist")


@dataclass
class CameraFrame:
    """One colour frame (with aligned depth when enabled) and its device timestamp (ms)."""
    color: np.ndarray                 # HxWx3 uint8, in the configured colour format
    depth: np.ndarray | None          # HxW uint16 (depth units), aligned to colour
    device_time_ms: float
    time_domain: str                  # "hardware_clock", "system_time", "global_time"
    frame_number: int


class CameraUnavailable(RuntimeError):
    """The device is not connected (or is not the configured serial)."""


class PlaybackFinished(RuntimeError):
    """A non-looping recording reached its end."""


class RealSenseCamera:
    """One RealSense device or recording, opened with `open()` (pyrealsense2 is imported then).

    Raises ValueError / FileNotFoundError for a bad `config`, CameraUnavailable when the device is not there.
    """

    def __init__(self, config: CameraConfig):
        config.validate()
        self.config = config
        self.rs = None
        self.pipeline = None
        self.align = None
        self.info: CameraInfoFields | None = None
        self.serial: str = ""
        self.depth_scale: float | None = None

    def _select_serial(self, rs) -> str:
        serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
        if self.config.serial_no:
            if self.config.serial_no not in serials:
                raise CameraUnavailable(f"RealSense {self.config.serial_no} not connected (connected: {serials})")
            return self.config.serial_no
        if len(serials) != 1:
            raise CameraUnavailable(f"serial_no not set and {len(serials)} RealSense cameras connected: {serials}")
        return serials[0]

    def open(self) -> None:
        import pyrealsense2 as rs
        self.rs = rs
        cfg = rs.config()
        if self.config.playback_file:
            cfg.enable_device_from_file(self.config.playback_file, repeat_playback=self.config.playback_loop)
        else:
            cfg.enable_device(self._select_serial(rs))
        fmt = getattr(rs.format, COLOR_FORMATS[self.config.color_format][0])
        cfg.enable_stream(rs.stream.color, self.config.width, self.config.height, fmt, self.config.fps)
        if self.config.enable_depth:
            cfg.enable_stream(rs.stream.depth, self.config.depth_width, self.config.depth_height,
                              rs.format.z16, self.config.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(cfg)
        except RuntimeError as exc:
            raise CameraUnavailable(f"cannot start {self.config.camera_name}: {exc}") from exc
        device = profile.get_device()
        if self.config.playback_file:
            device.as_playback().set_real_time(True)   # publish at the recorded rate
        self.serial = (device.get_info(rs.camera_info.serial_number)
                       if device.supports(rs.camera_info.serial_number) else "")
        color_profile = profile.get_stream(rs.stream.color).as_video_stream_profile()
        self.info = camera_info_fields(color_profile.get_intrinsics())
        if self.config.enable_depth:
            self.align = rs.align(rs.stream.color)
            depth_sensor = device.first_depth_sensor()
            self.depth_scale = depth_sensor.get_depth_scale()
        self.pipeline = pipeline

    def read(self) -> CameraFrame | None:
        """The next frame set, or None on a timeout (raises PlaybackFinished at the end of a file)."""
        ok, frames = self.pipeline.try_wait_for_frames(self.config.frame_timeout_ms)
        if not ok:
            if self.config.playback_file and not self.config.playback_loop:
                device = self.pipeline.get_active_profile().get_device().as_playback()
                if device.current_status() == self.rs.playback_status.stopped:
                    raise PlaybackFinished(self.config.playback_file)
            return None
        if self.align is not None:
            frames = self.align.process(frames)
        color = frames.get_color_frame()
        if not color:
            return None
        depth = None
        if self.config.enable_depth:
            depth_frame = frames.get_depth_frame()
            depth = np.asanyarray(depth_frame.get_data()).copy() if depth_frame else None
        domain = str(color.get_frame_timestamp_domain()).split(".")[-1]
        return CameraFrame(np.asanyarray(color.get_data()).copy(), depth, float(color.get_timestamp()),
                           domain, int(color.get_frame_number()))

    def device_connected(self) -> bool:
        if self.config.playback_file:
            return True
        import pyrealsense2 as rs
        return any(d.get_info(rs.camera_info.serial_number) == self.serial for d in rs.context().query_devices())

    def close(self) -> None:
        if self.pipeline is not None:
            try:
                self.pipeline.stop()
            except RuntimeError:
                pass
        self.pipeline = None
        self.align = None
