"""Input devices for teleoperation, read without blocking. ROS-free, Linux.

- `SpaceMouse`: a 3Dconnexion SpaceMouse through its HID reports on /dev/hidrawN (the kernel's
  raw HID interface: no hidapi needed, found by vendor id in sysfs). Report 1 carries the
  translation (and, on newer models, rotation too), report 2 the rotation, report 3 the buttons.
- `Gamepad`: any gamepad or joystick through the Linux joystick API (/dev/input/jsN: 8-byte events
  time u32 ms, value s16, type u8, number u8), as ROS's joy node reads it.
- `Keyboard`: a terminal fallback (stdin in cbreak mode): keys drive axes, others act as buttons.

Each has `poll() -> DeviceState` (the latest state, reading whatever arrived since the last call,
with the buttons that went down in between: a click shorter than the poll period is not lost)
and `close()`. A device that is absent or unreadable raises DeviceUnavailable with what to do.
"""

from __future__ import annotations

import errno
import os
import select
import struct
import sys
import time
from pathlib import Path

from .mapping import DeviceState

SPACEMOUSE_VENDORS = {0x046D, 0x256F}   # Logitech (older 3Dconnexion models), 3Dconnexion
SPACEMOUSE_FULL_SCALE = 350.0           # raw axis value at full deflection
JS_EVENT = struct.Struct("<IhBB")       # linux/joystick.h struct js_event
JS_BUTTON, JS_AXIS, JS_INIT = 0x01, 0x02, 0x80


def _note_presses(down: list[bool], was: list[bool], held: list[bool]) -> None:
    """Mark in `down` (grown as needed) the buttons held now that were not before: the presses a
    poll reports even when the button is released again before it."""
    down.extend([False] * (len(held) - len(down)))
    for i, h in enumerate(held):
        down[i] |= h and not (i < len(was) and was[i])


class DeviceUnavailable(RuntimeError):
    """The input device (or what reads it) is not there; str() says what to do."""


def _open_nonblocking(path: str, what: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as err:
        raise DeviceUnavailable(f"{what}: {path} does not exist (is the device plugged in?)") from err
    except PermissionError as err:
        raise DeviceUnavailable(f"{what}: no permission to read {path} (add a udev rule giving your user "
                                f"access, or add yourself to the group that owns it)") from err


def _read_all(fd: int, size: int, what: str) -> list[bytes]:
    """Every chunk of `size` bytes waiting on `fd`; DeviceUnavailable when the device went away."""
    out = []
    while True:
        try:
            data = os.read(fd, size)
        except BlockingIOError:
            return out
        except OSError as err:
            if err.errno in (errno.ENODEV, errno.EIO):
                raise DeviceUnavailable(f"{what} disconnected ({err.strerror})") from err
            raise
        if not data:            # a FIFO without writer (a recorded or scripted stream): nothing new
            return out
        out.append(data)


def find_spacemouse(sysfs: Path = Path("/sys/class/hidraw")) -> str:
    """/dev/hidrawN of the first HID device with a SpaceMouse vendor id; DeviceUnavailable if none."""
    for entry in sorted(sysfs.glob("hidraw*")):
        try:
            uevent = (entry / "device" / "uevent").read_text()
        except OSError:
            continue
        for line in uevent.splitlines():
            if line.startswith("HID_ID="):
                vendor = int(line.split("=", 1)[1].split(":")[1], 16)
                # Logitech's id is shared with its mice: there, only a device named 3Dconnexion/SpaceMouse
                if vendor == 0x256F or (vendor in SPACEMOUSE_VENDORS and
                                        ("3Dconnexion" in uevent or "SpaceMouse" in uevent)):
                    return f"/dev/{entry.name}"
    raise DeviceUnavailable("no 3Dconnexion SpaceMouse found among /dev/hidraw* (plug it in, or set "
                            "device_path; choose device:=gamepad or device:=keyboard otherwise)")


class SpaceMouse:
    """3Dconnexion SpaceMouse on /dev/hidrawN (module docstring); axes: tx ty tz rx ry rz."""

    def __init__(self, path: str = ""):
        self.path = path or find_spacemouse()
        self._fd = _open_nonblocking(self.path, "SpaceMouse")
        self.axes = [0.0] * 6
        self.buttons = [False] * 2
        self._down: list[bool] = []     # went down since the last poll

    def decode(self, report: bytes) -> None:
        """Apply one HID input report to the state."""
        if not report:
            return
        rid, body = report[0], report[1:]
        if rid in (1, 2) and len(body) >= 6:
            n = 6 if (rid == 1 and len(body) >= 12) else 3
            values = struct.unpack(f"<{n}h", body[:2 * n])
            start = 3 if rid == 2 else 0
            for i, v in enumerate(values):
                self.axes[start + i] = max(-1.0, min(1.0, v / SPACEMOUSE_FULL_SCALE))
        elif rid == 3:
            bits = int.from_bytes(body, "little")
            width = max(len(self.buttons), 8 * len(body))
            held = [bool(bits >> i & 1) for i in range(width)]
            _note_presses(self._down, self.buttons, held)
            self.buttons = held

    def poll(self) -> DeviceState:
        """The state after every report that arrived since the last call."""
        for report in _read_all(self._fd, 64, "SpaceMouse"):
            self.decode(report)
        state = DeviceState(tuple(self.axes), tuple(self.buttons), tuple(self._down))
        self._down = []
        return state

    def close(self) -> None:
        """Release the device file."""
        os.close(self._fd)


class Gamepad:
    """A gamepad/joystick through the Linux joystick API (module docstring); axes and buttons as
    the driver numbers them (config/teleop.yaml maps them)."""

    def __init__(self, path: str = ""):
        self.path = path or "/dev/input/js0"
        self._fd = _open_nonblocking(self.path, "gamepad")
        self.axes: list[float] = []
        self.buttons: list[bool] = []
        self._down: list[bool] = []     # went down since the last poll

    def decode(self, event: bytes) -> None:
        """Apply one js_event to the state."""
        _, value, kind, number = JS_EVENT.unpack(event)
        kind &= ~JS_INIT
        if kind == JS_AXIS:
            self.axes.extend([0.0] * (number + 1 - len(self.axes)))
            self.axes[number] = max(-1.0, value / 32767.0)
        elif kind == JS_BUTTON:
            held = self.buttons + [False] * (number + 1 - len(self.buttons))
            held[number] = bool(value)
            _note_presses(self._down, self.buttons, held)
            self.buttons = held

    def poll(self) -> DeviceState:
        """The state after every event that arrived since the last call."""
        for data in _read_all(self._fd, JS_EVENT.size * 64, "gamepad"):
            for k in range(0, len(data) - JS_EVENT.size + 1, JS_EVENT.size):
                self.decode(data[k:k + JS_EVENT.size])
        state = DeviceState(tuple(self.axes), tuple(self.buttons), tuple(self._down))
        self._down = []
        return state

    def close(self) -> None:
        """Release the device file."""
        os.close(self._fd)


# Keyboard layout: key -> (axis, direction); axes 0-5 are linear x y z, angular x y z.
KEY_AXES = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "r": (2, 1), "f": (2, -1),
            "i": (3, 1), "k": (3, -1), "j": (4, 1), "l": (4, -1), "u": (5, 1), "o": (5, -1)}
# key -> button number (config/teleop.yaml keyboard.*_button use these)
KEY_BUTTONS = {" ": 0, "b": 1, "y": 2, "n": 3, "t": 4}
KEYBOARD_HELP = ("keys: w/s x, a/d y, r/f z, i/k roll, j/l pitch, u/o yaw; space gripper; "
                 "b start episode, y success, n failure; t take/hand back control; Ctrl-C quit")


class Keyboard:
    """Terminal keyboard fallback (module docstring). A terminal reports key presses, not releases:
    an axis key counts as held for `hold` s after its last press or auto-repeat (set it above the
    terminal's auto-repeat delay, typically 0.25-0.5 s)."""

    def __init__(self, stream=None, hold: float = 0.5, clock=time.monotonic):
        self.stream = stream or sys.stdin
        if not self.stream.isatty():
            raise DeviceUnavailable("keyboard: standard input is not a terminal (run in a terminal, or "
                                    "choose device:=spacemouse or device:=gamepad)")
        import termios
        import tty
        self._fd = self.stream.fileno()
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)   # keys arrive one by one; Ctrl-C still interrupts
        self.hold, self.clock = hold, clock
        self._axis_until: dict[tuple[int, int], float] = {}
        print(KEYBOARD_HELP, file=sys.stderr, flush=True)

    def keys(self, text: str) -> DeviceState:
        """The state after these keys were typed now (the ROS-free core, also for tests)."""
        now = self.clock()
        buttons = [False] * (max(KEY_BUTTONS.values()) + 1)
        for key in text.lower():
            if key in KEY_AXES:
                self._axis_until[KEY_AXES[key]] = now + self.hold
            elif key in KEY_BUTTONS:
                buttons[KEY_BUTTONS[key]] = True
        axes = [0.0] * 6
        for (axis, direction), until in self._axis_until.items():
            if until >= now:
                axes[axis] += direction
        return DeviceState(tuple(axes), tuple(buttons))

    def poll(self) -> DeviceState:
        """The state after the keys typed since the last call."""
        text = ""
        while select.select([self._fd], [], [], 0.0)[0]:
            chunk = os.read(self._fd, 64).decode(errors="ignore")
            if not chunk:
                break
            text += chunk
        return self.keys(text)

    def close(self) -> None:
        """Give the terminal its settings back."""
        import termios
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)


DEVICES = {"spacemouse": SpaceMouse, "gamepad": Gamepad, "keyboard": Keyboard}


def open_device(kind: str, path: str = ""):
    """The device of `kind` (spacemouse, gamepad, keyboard) at `path` (empty: found or default)."""
    if kind not in DEVICES:
        raise DeviceUnavailable(f"unknown device '{kind}': one of {sorted(DEVICES)}")
    return DEVICES[kind]() if kind == "keyboard" else DEVICES[kind](path)
