"""MuJoCo simulation of the GR-2 robot cell (ROS-free): world, tasks, scripted expert, dataset.

Rendering works headless without help: MuJoCo picks its OpenGL backend from MUJOCO_GL when it is
first imported, and its default (GLFW) needs a display. Where none is set (no DISPLAY or
WAYLAND_DISPLAY) and the user chose nothing, the offscreen EGL backend is chosen here, before any
module of this package imports mujoco.
"""
import os as _os

if not _os.environ.get("MUJOCO_GL") and not (_os.environ.get("DISPLAY") or _os.environ.get("WAYLAND_DISPLAY")):
    _os.environ["MUJOCO_GL"] = "egl"
    _os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
