"""`prepare_frame`, the one camera-frame -> model-input function of training and the policy node:
shapes, centre crop, model-size frames passed through, bad input refused, and a small object
keeping its colour through the 224 -> 64 downscale (why the data path area-resamples)."""

from __future__ import annotations

import numpy as np
import pytest

from gr2_policy.model_input import prepare_frame, prepare_frames

TABLE = np.array([140, 115, 89], np.uint8)      # the sim's table (0.55, 0.45, 0.35)
SQUARE = np.array([200, 40, 120], np.uint8)     # three different channels: a channel swap shows


def random_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("shape", [(224, 224), (480, 640), (640, 480), (100, 101)])
@pytest.mark.parametrize("size", [64, 32, 1])
def test_output_is_size_square_uint8_rgb(shape, size):
    out = prepare_frame(random_frame(*shape), size)
    assert out.shape == (size, size, 3) and out.dtype == np.uint8


def test_non_square_frames_are_centre_cropped():
    wide = random_frame(480, 640)
    wide[:, :80] = wide[:, -80:] = (0, 255, 0)   # what the crop must cut off
    out = prepare_frame(wide, 64)
    np.testing.assert_array_equal(out, prepare_frame(wide[:, 80:560], 64))
    assert not np.any(np.all(out == (0, 255, 0), axis=-1))
    tall = random_frame(640, 480, seed=1)
    np.testing.assert_array_equal(prepare_frame(tall, 64), prepare_frame(tall[80:560], 64))
    # An odd surplus leaves the extra row at the bottom (offset rounded down).
    odd = random_frame(227, 224, seed=2)
    np.testing.assert_array_equal(prepare_frame(odd, 64), prepare_frame(odd[1:225], 64))


def test_model_size_input_is_returned_unchanged():
    frame = random_frame(64, 64)
    out = prepare_frame(frame, 64)
    np.testing.assert_array_equal(out, frame)
    assert np.shares_memory(out, frame)          # no copy, no resample pass
    # A non-contiguous view (e.g. BGR -> RGB by slicing) comes back contiguous, pixels untouched.
    flipped = frame[..., ::-1]
    out = prepare_frame(flipped, 64)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, flipped)
    # A frame whose centre crop is model-size: the crop, unchanged.
    wide = random_frame(64, 80, seed=3)
    np.testing.assert_array_equal(prepare_frame(wide, 64), wide[:, 8:72])


@pytest.mark.parametrize("frame, size", [
    (np.zeros((224, 224), np.uint8), 64),          # greyscale
    (np.zeros((224, 224, 4), np.uint8), 64),       # RGBA
    (np.zeros((224, 224, 3), np.float32), 64),     # not uint8
    (np.zeros((224, 224, 3), np.uint16), 64),
    (np.zeros((2, 224, 224, 3), np.uint8), 64),    # a batch is prepare_frames' job
    (np.zeros((224, 224, 3), np.uint8), 0),
    (np.zeros((224, 224, 3), np.uint8), -64),
])
def test_bad_input_raises_value_error(frame, size):
    with pytest.raises(ValueError):
        prepare_frame(frame, size)


def test_prepare_frames_applies_prepare_frame_to_each():
    frames = np.stack([random_frame(224, 224, seed=s) for s in range(3)])
    out = prepare_frames(frames, 64)
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
    for f, o in zip(frames, out, strict=False):
        np.testing.assert_array_equal(o, prepare_frame(f, 64))
    assert prepare_frames(np.zeros((0, 224, 224, 3), np.uint8), 64).shape == (0, 64, 64, 3)
    with pytest.raises(ValueError):
        prepare_frames(frames[0], 64)


# 224 / 64 = 7 / 2: the source-to-output pixel grid repeats every 7 source pixels, so these 7 x 7
# offsets are every placement of the square relative to the output grid.
@pytest.mark.parametrize("dy", range(7))
@pytest.mark.parametrize("dx", range(7))
def test_small_square_keeps_its_colour(dx, dy):
    """A 5x5-pixel square (a 40 mm cube seen from afar) on the table, 224 -> 64.

    The output pixels it covers mix its colour with the table's in proportion to how much of
    each it covers. That share is measured by passing the square's mask through the same
    function; unmixing the covered pixels by it must give back the square's colour (within a
    few levels of uint8 rounding), the best-covered pixel must look more like the square than
    like the table (it is not dropped), and a pixel it covers entirely is its colour."""
    top, left = 98 + dy, 105 + dx
    frame = np.broadcast_to(TABLE, (224, 224, 3)).copy()
    frame[top:top + 5, left:left + 5] = SQUARE
    mask = np.zeros((224, 224, 3), np.uint8)
    mask[top:top + 5, left:left + 5] = 255

    out = prepare_frame(frame, 64).astype(float)
    cover = prepare_frame(mask, 64)[..., 0].astype(float) / 255.0   # share of each output pixel
    covered = cover > 0
    assert covered.any(), "the square vanished"
    # out = cover * square + (1 - cover) * table, per covered pixel: least-squares unmixing
    w = cover[covered]
    excess = out[covered] - (1.0 - w)[:, None] * TABLE
    colour = (w[:, None] * excess).sum(axis=0) / np.square(w).sum()
    np.testing.assert_allclose(colour, SQUARE, atol=3.0, err_msg=f"square at ({top}, {left})")

    best = np.unravel_index(np.argmax(cover), cover.shape)
    assert np.linalg.norm(out[best] - SQUARE) < np.linalg.norm(out[best] - TABLE), f"square at ({top}, {left})"
    full = cover > 0.999
    if full.any():
        np.testing.assert_allclose(out[full], np.broadcast_to(SQUARE, out[full].shape), atol=1.0)
    # Nothing outside the pixels it covers changed colour.
    np.testing.assert_allclose(out[~covered], np.broadcast_to(TABLE, out[~covered].shape), atol=1.0)


def test_crop_takes_the_region_of_the_centre_square_and_stretches_it_to_the_square():
    from PIL import Image

    from gr2_policy.model_input import RESAMPLE
    frame = random_frame(224, 224)
    out = prepare_frame(frame, 64, (0.25, 0.5, 0.75, 0.75))       # x 56..168, y 112..168
    expected = np.asarray(Image.fromarray(np.ascontiguousarray(frame[112:168, 56:168])).resize((64, 64), RESAMPLE))
    np.testing.assert_array_equal(out, expected)
    wide = random_frame(480, 640)                                 # the region is of the centre square
    left_half = np.ascontiguousarray(wide[:, 80:320])            # x 0..0.5 of the centre 480 x 480
    np.testing.assert_array_equal(prepare_frame(wide, 64, (0.0, 0.0, 0.5, 1.0)),
                                  np.asarray(Image.fromarray(left_half).resize((64, 64), RESAMPLE)))
    # the whole square as a crop is no crop
    np.testing.assert_array_equal(prepare_frame(frame, 64, (0, 0, 1, 1)), prepare_frame(frame, 64))
    frames = np.stack([frame, random_frame(224, 224, seed=1)])
    np.testing.assert_array_equal(prepare_frames(frames, 64, (0.25, 0.5, 0.75, 0.75))[0], out)


def test_crop_of_a_model_size_region_is_passed_through():
    frame = random_frame(128, 128)
    np.testing.assert_array_equal(prepare_frame(frame, 64, (0.5, 0.5, 1.0, 1.0)), frame[64:, 64:])


@pytest.mark.parametrize("crop", [(0.5, 0.0, 0.5, 1.0), (0.0, 0.6, 1.0, 0.4), (-0.1, 0.0, 1.0, 1.0),
                                  (0.0, 0.0, 1.1, 1.0), (0.0, 0.0, 1.0), "head", (0, 0, "x", 1)])
def test_bad_crop_raises_value_error(crop):
    with pytest.raises(ValueError):
        prepare_frame(random_frame(224, 224), 64, crop)


def test_parse_crops_reads_command_line_items_and_mappings():
    from gr2_policy.model_input import parse_crops
    assert parse_crops(None) == parse_crops([]) == {}
    assert parse_crops(["head_camera=0.1,0.2,0.9,0.8"]) == {"head_camera": (0.1, 0.2, 0.9, 0.8)}
    assert parse_crops({"head_camera": [0, 0.2, 1, 0.8]}) == {"head_camera": (0.0, 0.2, 1.0, 0.8)}
    for bad in (["0.1,0.2,0.9,0.8"], ["head_camera=0.1,0.2"], ["=0,0,1,1"]):
        with pytest.raises(ValueError):
            parse_crops(bad)
