"""rclpy node for one Intel RealSense camera (or a recording of one), realsense-ros naming.

Publishes /<camera_name>/color/image_raw + /<camera_name>/color/camera_info (names from
gr2_contract), optionally /<camera_name>/aligned_depth_to_color/image_raw, stamped with the
camera's hardware timestamps mapped to host time, and /diagnostics at 1 Hz (measured rate,
timeouts, reconnects). A frame thread reads the camera so ROS callbacks never block on USB;
an unplugged camera is reopened with backoff when it comes back.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from dataclasses import dataclass

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image

from gr2_contract import DIAGNOSTICS, STATUS_RATE_HZ, camera_info_topic, image_topic
from gr2_contract.node_main import run_essential, spin_plain
from gr2_contract.parameters import declare_dataclass
from gr2_drivers.realsense.camera import (
    CameraConfig,
    CameraFrame,
    CameraUnavailable,
    PlaybackFinished,
    RealSenseCamera,
    aligned_depth_topic,
    color_optical_frame,
)
from gr2_drivers.realsense.clock import HardwareClockMapper


@dataclass
class ReconnectParameters:
    """The camera node's parameters besides CameraConfig's fields (declared from both dataclasses)."""
    reconnect_backoff_initial_s: float = 0.5   # s before reopening a lost camera, doubling
    reconnect_backoff_max_s: float = 5.0


class RealSenseCameraNode(Node):
    """The camera node (module docstring); ValueError / FileNotFoundError for bad parameters."""

    def __init__(self):
        super().__init__("realsense_camera")
        self._declare_parameters()
        self._create_interfaces()
        self._start_frame_thread()
        name = self.config.camera_name
        source = self.config.playback_file or f"serial {self.config.serial_no or '(any)'}"
        self.get_logger().info(f"{name}: {source}, colour {self.config.width}x{self.config.height} "
                               f"@ {self.config.fps} Hz -> {image_topic(name)}")

    def _declare_parameters(self) -> None:
        """CameraConfig's fields and ReconnectParameters' as parameters of the same names."""
        self.config = declare_dataclass(self, CameraConfig)
        self.config.validate()
        reconnect = declare_dataclass(self, ReconnectParameters)
        self.backoff_initial = reconnect.reconnect_backoff_initial_s
        self.backoff_max = reconnect.reconnect_backoff_max_s

    def _create_interfaces(self) -> None:
        """Image, camera info, optional depth and diagnostics publishers; the diagnostics timer."""
        name = self.config.camera_name
        self.frame_id = color_optical_frame(name)
        self.image_pub = self.create_publisher(Image, image_topic(name), 5)
        self.info_pub = self.create_publisher(CameraInfo, camera_info_topic(name), 5)
        self.depth_pub = (self.create_publisher(Image, aligned_depth_topic(name), 5)
                          if self.config.enable_depth else None)
        self.diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS, 10)
        self.create_timer(1.0 / STATUS_RATE_HZ, self._publish_diagnostics)

    def _start_frame_thread(self) -> None:
        """The camera (device or recording), its clock mapping and counters, and the frame thread."""
        name = self.config.camera_name
        self.camera = RealSenseCamera(self.config)
        self.clock_mapper = HardwareClockMapper()
        self.state = "opening"
        self.last_error = ""
        self.frames = 0
        self.timeouts = 0
        self.reconnects = 0
        self._arrivals: collections.deque[float] = collections.deque(maxlen=4 * self.config.fps)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=run_essential, name=f"{name}_frames", daemon=True,
                                        args=(self, f"{name}_frames", self._frame_loop, self._stop.is_set))
        self._thread.start()

    # -- frame thread ------------------------------------------------------------------------------
    def _frame_loop(self) -> None:
        backoff = self.backoff_initial
        opened_once = False
        while not self._stop.is_set():
            try:
                self.camera.open()
            except (CameraUnavailable, RuntimeError) as exc:
                self.state, self.last_error = "waiting for camera", str(exc)
                self._stop.wait(backoff)
                backoff = min(2.0 * backoff, self.backoff_max)
                continue
            if opened_once:
                self.reconnects += 1
                self.get_logger().info(f"{self.config.camera_name}: camera {self.camera.serial} back")
            opened_once, backoff = True, self.backoff_initial
            self.state, self.last_error = "streaming", ""
            finished = self._stream()
            self.camera.close()
            if finished:
                self.state = "playback finished"
                self.get_logger().info(f"{self.config.camera_name}: end of {self.config.playback_file}")
                return

    def _stream(self) -> bool:
        """Publish until the camera goes away (False) or a recording ends (True)."""
        while not self._stop.is_set():
            try:
                frame = self.camera.read()
            except PlaybackFinished:
                return True
            except RuntimeError as exc:
                self.state, self.last_error = "reconnecting", f"read failed: {exc}"
                return False
            if frame is None:
                self.timeouts += 1
                if not self.camera.device_connected():
                    self.state, self.last_error = "reconnecting", "camera unplugged"
                    self.get_logger().warn(f"{self.config.camera_name}: camera unplugged, waiting for it")
                    return False
                continue
            self._publish(frame)
        return False

    def _publish(self, frame: CameraFrame) -> None:
        now = time.time()
        stamp = Time(nanoseconds=int(self.clock_mapper.to_host(frame.device_time_ms, frame.time_domain, now)
                                     * 1e9)).to_msg()
        h, w = frame.color.shape[:2]
        image = Image(height=h, width=w, encoding=self.config.color_format, is_bigendian=0,
                      step=w * frame.color.shape[2], data=frame.color.tobytes())
        image.header.stamp, image.header.frame_id = stamp, self.frame_id
        info = self.camera.info
        cam_info = CameraInfo(height=info.height, width=info.width, distortion_model=info.distortion_model,
                              d=info.d, k=info.k, r=info.r, p=info.p)
        cam_info.header = image.header
        self.image_pub.publish(image)
        self.info_pub.publish(cam_info)
        if self.depth_pub is not None and frame.depth is not None:
            dh, dw = frame.depth.shape
            depth = Image(height=dh, width=dw, encoding="16UC1", is_bigendian=0, step=dw * 2,
                          data=frame.depth.tobytes())
            depth.header = image.header
            self.depth_pub.publish(depth)
        self.frames += 1
        self._arrivals.append(time.monotonic())

    def measured_rate_hz(self) -> float:
        arrivals = list(self._arrivals)
        if len(arrivals) < 2 or time.monotonic() - arrivals[-1] > 1.0:
            return 0.0
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])

    def report_fatal(self, reason: str):
        """The frame thread died (run_essential): ERROR on /diagnostics before the node exits 1. Returns the
        publisher it used (gr2_contract.node_main repeats the report until a subscriber has heard it)."""
        status = DiagnosticStatus(name=f"{self.get_name()}: RealSense {self.config.camera_name}",
                                  hardware_id=self.config.serial_no, level=DiagnosticStatus.ERROR, message=reason)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)
        return self.diag_pub

    def _publish_diagnostics(self) -> None:
        rate = self.measured_rate_hz()
        status = DiagnosticStatus(name=f"{self.get_name()}: RealSense {self.config.camera_name}",
                                  hardware_id=self.camera.serial or self.config.serial_no)
        if self.state == "streaming" and rate >= 0.8 * self.config.fps:
            status.level, status.message = DiagnosticStatus.OK, f"streaming at {rate:.1f} Hz"
        elif self.state in ("streaming", "playback finished"):
            status.level, status.message = DiagnosticStatus.WARN, f"{self.state} at {rate:.1f} Hz"
        else:
            status.level, status.message = DiagnosticStatus.ERROR, f"{self.state}: {self.last_error}"
        values = {"state": self.state, "rate_hz": f"{rate:.2f}", "configured_fps": self.config.fps,
                  "frames": self.frames, "timeouts": self.timeouts, "reconnects": self.reconnects,
                  "clock_resets": self.clock_mapper.resets, "serial": self.camera.serial,
                  "source": self.config.playback_file or "device", "last_error": self.last_error}
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(msg)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.camera.close()


def main(args=None) -> int:
    """Run the camera node until shutdown; 1 for bad parameters or a dead frame thread."""
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = RealSenseCameraNode()
        code = spin_plain(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError) as exc:
        rclpy.logging.get_logger("realsense_camera").fatal(str(exc))
        code = 1
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
