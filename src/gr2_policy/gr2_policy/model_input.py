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


# A view's input region: (x0, y0, x1, y1), fractions of the frame's centre square (x right, y down),
# 0 <= x0 < x1 <= 1 and likewise y. None: the whole square. A region that is not square is
# stretched to the model's square input: the head camera sees a wide, shallow workspace, and a
# crop to it gives its cubes more of the 64 px than any square framing can.
Crop = tuple[float, float, float, float]


def check_crop(crop) -> Crop | None:
    """A crop as a tuple of 4 floats (None stays None); ValueError for anything else or a region
    outside the unit square or without area."""
    if crop is None:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in crop)
    except (TypeError, ValueError):
        raise ValueError(f"a crop is (x0, y0, x1, y1) fractions of the frame, got {crop!r}") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise ValueError(f"crop {crop!r} is not 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return (x0, y0, x1, y1)


def parse_crops(items: list[str] | dict | None) -> dict[str, Crop]:
    """`VIEW=x0,y0,x1,y1` strings (command line) or a {view: [x0, y0, x1, y1]} mapping (YAML,
    checkpoints) -> {view: Crop}; ValueError for a malformed item."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(v): check_crop(c) for v, c in items.items()}
    crops = {}
    for item in items:
        view, sep, values = str(item).partition("=")
        if not sep or not view:
            raise ValueError(f"expected VIEW=x0,y0,x1,y1, got {item!r}")
        crops[view] = check_crop(values.split(","))
    return crops


def prepare_frame(frame: np.ndarray, size: int, crop: Crop | None = None) -> np.ndarray:
    """Camera frame (H, W, 3) uint8 RGB -> model input (size, size, 3) uint8 RGB.

    Centre-crop to the largest square, take the `crop` region of it (`Crop`; pixel bounds
    rounded), then area-resample to `size` x `size`. A square frame of the model size without a
    crop is returned unchanged (a copy-free contiguous view). Raises ValueError for anything but
    an (H, W, 3) uint8 array, a size < 1 or a malformed crop.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    if size < 1:
        raise ValueError(f"model input size must be >= 1, got {size}")
    h, w = frame.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    region = frame[top:top + s, left:left + s]
    if crop is not None:
        x0, y0, x1, y1 = check_crop(crop)
        rows = slice(round(y0 * s), max(round(y1 * s), round(y0 * s) + 1))
        cols = slice(round(x0 * s), max(round(x1 * s), round(x0 * s) + 1))
        region = region[rows, cols]
    if region.shape[:2] == (size, size):
        return np.ascontiguousarray(region)
    return np.asarray(Image.fromarray(np.ascontiguousarray(region)).resize((size, size), RESAMPLE))


def prepare_frames(frames: np.ndarray, size: int, crop: Crop | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) uint8, `prepare_frame` on each."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected (T, H, W, 3) frames, got {frames.shape}")
    if crop is None and frames.shape[1:] == (size, size, 3) and frames.dtype == np.uint8:
        return np.asarray(frames)
    if not len(frames):
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([prepare_frame(f, size, crop) for f in frames])
