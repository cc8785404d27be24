"""RealSense node in playback mode on a recording made here with the SDK's own recorder.

No camera exists on this machine, so the frames come from a pyrealsense2 software_device
(part of the SDK, not a double), recorded with rs.recorder (2.59 writes a .db3 file), and
the node plays the file back through rs.pipeline as a separate process.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from gr2_contract import DIAGNOSTICS, camera_info_topic, image_topic
from gr2_testing.processes import wait_for

W, H, FPS, N_FRAMES = 64, 48, 30, 30
SERIAL = "923322071234"


def record_software_camera(path, frames):
    import pyrealsense2 as rs
    dev = rs.software_device()
    dev.register_info(rs.camera_info.serial_number, SERIAL)
    sensor = dev.add_sensor("RGB Camera")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.ppx, intr.ppy, intr.fx, intr.fy = W, H, 31.7, 23.4, 52.5, 52.25
    intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.11, -0.052, 0.0012, -0.0007, 0.009]
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = rs.stream.color, 0, 0
    stream.width, stream.height, stream.fps, stream.bpp, stream.fmt = W, H, FPS, 3, rs.format.rgb8
    stream.intrinsics = intr
    profile = sensor.add_video_stream(stream)
    recorder = rs.recorder(str(path), dev)
    sensor.open(profile)
    sensor.start(lambda frame: None)
    for i, img in enumerate(frames):
        f = rs.software_video_frame()
        f.pixels, f.bpp, f.stride = img, 3, W * 3
        f.timestamp, f.domain, f.frame_number = 5000.0 + i * 1000.0 / FPS, rs.timestamp_domain.hardware_clock, i
        f.profile = profile.as_video_stream_profile()
        sensor.on_video_frame(f)
        time.sleep(1.0 / FPS)
    sensor.stop()
    sensor.close()
    del recorder
    return intr


@pytest.mark.multiprocess
def test_playback_publishes_bit_identical_frames_camera_info_and_rate(tmp_path, node_processes):
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(N_FRAMES)]
    path = tmp_path / "head.db3"
    intr = record_software_camera(path, frames)
    assert path.exists()
    recorded = {f.tobytes(): i for i, f in enumerate(frames)}

    rclpy.init()
    node = rclpy.create_node("realsense_probe")
    images, infos, diags = [], [], []
    node.create_subscription(Image, image_topic("head_camera"), images.append, qos_profile_sensor_data)
    node.create_subscription(CameraInfo, camera_info_topic("head_camera"), infos.append, qos_profile_sensor_data)
    node.create_subscription(DiagnosticArray, DIAGNOSTICS, diags.append, 10)
    try:
        proc = node_processes.start(
            [sys.executable, "-m", "gr2_drivers.realsense_camera_node", "--ros-args",
             "-r", "__node:=head_camera", "-p", "camera_name:=head_camera",
             "-p", f"playback_file:={path}", "-p", "playback_loop:=true",
             "-p", f"width:={W}", "-p", f"height:={H}", "-p", f"fps:={FPS}"], name="realsense_playback")

        def enough():
            node_processes.assert_running()
            for _ in range(20):
                rclpy.spin_once(node, timeout_sec=0.005)
            seen = {bytes(img.data) for img in images[-4 * N_FRAMES:]}
            # Every recorded frame must come through (over a few loops: best-effort QoS may drop some).
            return len(images) >= 2 * N_FRAMES and len(seen & recorded.keys()) == N_FRAMES and any(
                kv.key == "rate_hz" and float(kv.value) > 0 for d in diags for s in d.status for kv in s.values)
        wait_for(enough, timeout=90.0, period=0.0, what="played-back frames and a rate on /diagnostics")

        for img in images:
            assert (img.width, img.height, img.encoding, img.step) == (W, H, "rgb8", W * 3)
            assert img.header.frame_id == "head_camera_color_optical_frame"
            assert bytes(img.data) in recorded, "a published image differs from every recorded frame"
        order = [recorded[bytes(img.data)] for img in images]
        assert len(set(order)) == N_FRAMES                       # every recorded frame came through
        info = infos[-1]
        assert (info.width, info.height, info.distortion_model) == (W, H, "plumb_bob")
        assert list(info.k) == pytest.approx([intr.fx, 0, intr.ppx, 0, intr.fy, intr.ppy, 0, 0, 1], rel=1e-6)
        assert list(info.d) == pytest.approx(list(intr.coeffs), rel=1e-6)
        stamps = [i.header.stamp.sec + 1e-9 * i.header.stamp.nanosec for i in images]
        assert abs(stamps[-1] - time.time()) < 2.0              # hardware clock mapped to host time
        rates = [float(kv.value) for d in diags for s in d.status for kv in s.values if kv.key == "rate_hz"]
        steps = np.diff(stamps)
        measured = 1.0 / float(np.median(steps[steps > 0]))  # loops restart the clock, so per-step
        print(f"node-reported rate {rates[-1]:.2f} Hz; subscriber-side {len(images)} frames, "
              f"stamp rate {measured:.2f} Hz (recorded at {FPS} Hz)")
        assert rates[-1] == pytest.approx(FPS, rel=0.2)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    assert node_processes.stop(proc) == 0
