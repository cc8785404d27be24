"""The one path from a camera frame to the model's input frame.

Training (dataset readers, the token cache), the policy node and every evaluator call
`prepare_frame`, so the model sees the same pixels on the robot as in training: a test
(tests/test_data_path.py) checks that the same sim state recorded into a dataset and received by
the policy node gives byte-identical model inputs.

Why area resampling (PIL BOX): downscaling 224 -> 64 averages every source pixel into the
output, so a 40 mm cube (~18 source pixels wide in the head view) keeps its colour as a
5 px blob; a point-sampling filter can drop or alias it.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

RESAMPLE = Image.Resampling.BOX   # area averaging; the one filter of the data path
# The model's gripper input is the MEASURED closure of the gripper, 0 open .. 1 closed, clipped to
# [0, 1]: the same in datasets and on the robot, not the last command. A value, not a closed/open
# flag: a 2F-85 closed square on a 40 mm cube stops at 0.56 and across its diagonal (grasp yaw
# 45 deg off) at 0.38, still holding it; a flag cannot tell a grasp that has stopped there from
# fingers still closing, while the value over the observed steps can. Checkpoints record this
# definition (checkpoint.py refuses another; before it was recorded it was "closed above 0.5").
GRIPPER_INPUT = "closure"


def gripper_closure(position):
    """Measured gripper opening (0 open .. 1 closed; scalar or array) -> the model's gripper input,
    float32 clipped to [0, 1] (a scalar gives a 0-d array)."""
    return np.clip(np.asarray(position, dtype=np.float32), 0.0, 1.0)


def prepare_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """Camera frame (H, W, 3) uint8 RGB -> model input (size, size, 3) uint8 RGB.

    Centre-crop to the largest square, then area-resample to `size`. A square frame of the
    model size is returned unchanged (a copy-free contiguous view). Raises ValueError for
    anything but an (H, W, 3) uint8 array or a size < 1.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    if size < 1:
        raise ValueError(f"model input size must be >= 1, got {size}")
    h, w = frame.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    square = frame[top:top + s, left:left + s]
    if s == size:
        return np.ascontiguousarray(square)
    return np.asarray(Image.fromarray(np.ascontiguousarray(square)).resize((size, size), RESAMPLE))


def prepare_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8, `prepare_frame` on each."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected (T, H, W, 3) frames, got {frames.shape}")
    if frames.shape[1:] == (size, size, 3) and frames.dtype == np.uint8:
        return np.asarray(frames)
    return np.stack([prepare_frame(f, size) for f in frames]) if len(frames) else np.zeros((0, size, size, 3), np.uint8)
