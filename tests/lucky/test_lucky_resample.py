"""The shortcuts the stacker takes for speed give the same pixels as the plain operations."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from september.lucky.align import stacked_peaks, subpixel_peak
from september.lucky.frames import open_frames
from september.lucky.resample import sample, translate
from september.lucky.ser import BAYER_IDS, SerVideo, write_ser


@pytest.mark.parametrize("flags", [cv2.INTER_CUBIC, cv2.INTER_LINEAR])
def test_separable_translation_matches_warp_affine(flags: int) -> None:
    rng = np.random.default_rng(7)
    frame = cv2.GaussianBlur(rng.uniform(0, 255, (120, 140)).astype(np.float32), (0, 0), 1.5)
    raw = np.rint(frame).astype(np.uint8)
    for top, left in [(10.3, 20.7), (0.2, 0.9), (50.0, 66.99), (47.5, 70.25)]:
        fast = translate(raw, top, left, (73, 73), flags)
        plain = sample(raw.astype(np.float32), top, left, (73, 73), 1.0, flags)
        # warpAffine rounds positions to 1/32 px; the filter does not: differences stay tiny
        assert fast.dtype == np.float32
        assert np.abs(fast - plain).max() < 0.05, (top, left)


def test_stacked_peaks_match_one_by_one() -> None:
    rng = np.random.default_rng(3)
    surfaces = rng.normal(size=(200, 9, 9)).astype(np.float32)
    for surface in surfaces:
        y, x = rng.integers(0, 9, 2)
        surface[y, x] += 4.0
    rows, cols, ok = stacked_peaks(surfaces)
    for k, surface in enumerate(surfaces):
        y, x = np.unravel_index(int(np.argmax(surface)), surface.shape)
        assert ok[k] == (0 < y < 8 and 0 < x < 8)
        if ok[k]:
            sy, sx = subpixel_peak(surface, int(y), int(x))
            assert abs(rows[k] - (y + sy)) < 1e-6 and abs(cols[k] - (x + sx)) < 1e-6


@pytest.mark.parametrize("color_id", sorted(BAYER_IDS))
def test_bayer_regions_demosaic_like_the_whole_frame(tmp_path: Path, color_id: int) -> None:
    rng = np.random.default_rng(color_id)
    frames = rng.integers(0, 4000, (2, 64, 80)).astype(np.uint16)
    path = write_ser(tmp_path / "bayer.ser", frames, color_id=color_id, byte_order="big")
    view = open_frames(path, byte_order="big").view(1)
    whole = SerVideo(path, byte_order="big").rgb(1)
    assert np.array_equal(np.asarray(view), whole)
    for rows, cols in [
        (slice(5, 30), slice(7, 50)),
        (slice(0, 9), slice(61, 80)),
        (slice(63, 64), slice(0, 3)),
    ]:
        assert np.array_equal(view[rows, cols], whole[rows, cols]), (rows, cols)
