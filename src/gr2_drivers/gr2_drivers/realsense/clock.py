"""Map a camera's hardware timestamps (ms, device clock) to host time (s).

A hardware-clock stamp says when the sensor exposed the frame, without USB/driver latency,
but on the device's own clock. The offset host - device is estimated as the smallest one
seen over a sliding window (the frame that arrived with the least latency), which follows
slow drift; a jump in the device clock (device reset, replug, file looping) restarts the
estimate. Stamps already on the host clock (system_time / global_time) pass through.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

HOST_DOMAINS = ("system_time", "global_time")


@dataclass(frozen=True)
class ClockMapperConfig:
    """Offset window length (frames) and the device clock jump (s) that restarts the estimate."""
    window: int = 300                 # frames in the offset window (10 s at 30 Hz)
    max_jump_s: float = 1.0           # device clock jumps beyond this restart the estimate


class HardwareClockMapper:
    """Device-clock frame stamps to host time (module docstring); one per camera stream."""

    def __init__(self, config: ClockMapperConfig = ClockMapperConfig()):
        self.config = config
        self._offsets: deque[float] = deque(maxlen=config.window)
        self._last_device_s: float | None = None
        self._last_host_s: float | None = None
        self.resets = 0

    def to_host(self, device_ms: float, domain: str, host_now_s: float) -> float:
        """Host time (s) at which the frame was exposed; `host_now_s` is its arrival time."""
        device_s = device_ms / 1000.0
        if domain.split(".")[-1] in HOST_DOMAINS:
            return device_s
        if self._last_device_s is not None:
            device_step = device_s - self._last_device_s
            host_step = host_now_s - self._last_host_s
            if device_step < 0.0 or abs(device_step - host_step) > self.config.max_jump_s:
                self._offsets.clear()
                self.resets += 1
        self._last_device_s, self._last_host_s = device_s, host_now_s
        self._offsets.append(host_now_s - device_s)
        return device_s + min(self._offsets)
