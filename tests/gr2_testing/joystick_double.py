"""A test double for a gamepad: writes Linux joystick API events (struct js_event: u32 time ms,
s16 value, u8 type, u8 number) into a FIFO that the teleop node opens as its /dev/input/jsN, so the
node's real gamepad code reads it."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

JS_EVENT = struct.Struct("<IhBB")


class JoystickDouble:
    """A scripted stand-in for a gamepad on a named pipe at `path` (created here)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        os.mkfifo(self.path)
        # O_RDWR: never blocks and keeps the pipe open, so the reader never sees end-of-file
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self._t0 = time.monotonic()

    def _event(self, kind: int, number: int, value: int) -> None:
        ms = int((time.monotonic() - self._t0) * 1000) & 0xFFFFFFFF
        os.write(self._fd, JS_EVENT.pack(ms, value, kind, number))

    def axis(self, number: int, value: float) -> None:
        """Move axis `number` to `value` (-1..1)."""
        self._event(0x02, number, int(round(max(-1.0, min(1.0, value)) * 32767)))

    def button(self, number: int, pressed: bool) -> None:
        """Press or release button `number`."""
        self._event(0x01, number, int(pressed))

    def click(self, number: int, hold: float = 0.1) -> None:
        """Press and release button `number` (held `hold` s, so a 50 Hz poll sees it)."""
        self.button(number, True)
        time.sleep(hold)
        self.button(number, False)

    def close(self) -> None:
        """Close and remove the pipe."""
        os.close(self._fd)
        self.path.unlink(missing_ok=True)
