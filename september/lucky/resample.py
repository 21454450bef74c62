"""Sub-pixel resampling of frame regions: the step that puts every stacked patch in its place.

A patch taken at a sub-pixel position is a pure translation, which a separable 4-tap cubic (or
2-tap linear) filter does several times faster than ``cv2.warpAffine`` on small patches; the
weights are OpenCV's bicubic ones (A = -0.75), tabulated in 1/1024 px steps. Drizzled output (a
finer grid) goes through ``cv2.warpAffine``. Pixels beyond the array are reflected, as
``cv2.BORDER_REFLECT`` does.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

__all__ = ["KERNEL_STEPS", "interpolation_kernel", "sample", "translate"]

KERNEL_STEPS = 1024
"""Interpolation weights are tabulated for shifts in steps of 1/1024 px."""


def sample(
    frame: np.ndarray, top: float, left: float, shape: tuple[int, int], scale: float, flags: int
) -> np.ndarray:
    """Resample ``frame`` on a ``shape`` grid whose pixel (0, 0) covers (top, left) at ``scale``."""
    inverse = 1.0 / scale
    offset = 0.5 * inverse - 0.5
    matrix = np.array([[inverse, 0, left + offset], [0, inverse, top + offset]], dtype=np.float64)
    return cv2.warpAffine(
        frame, matrix, (shape[1], shape[0]), flags=flags | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip


def translate(
    pixels: np.ndarray,
    top: float,
    left: float,
    shape: tuple[int, int],
    flags: int = cv2.INTER_CUBIC,
    scale: float = 1.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The ``shape`` grid of ``pixels`` (2-D or H x W x C) from sub-pixel (top, left) on, float32.

    ``pixels`` may be uint8 or uint16 (then converted on the fly) or float32. With ``scale`` > 1
    the grid is ``scale`` times finer (drizzle) and ``sample`` is used. ``out`` is an optional
    float32 work array for the filter, 3 px (cubic) or 1 px (linear) larger than ``shape`` in
    both directions; the result is then a view of it.
    """
    if scale != 1.0:
        return sample(pixels.astype(np.float32, copy=False), top, left, shape, scale, flags)
    iy, ix = math.floor(top), math.floor(left)
    taps = 4 if flags == cv2.INTER_CUBIC else 2
    y0, x0 = iy - taps // 2 + 1, ix - taps // 2 + 1
    y1, x1 = y0 + shape[0] + taps - 1, x0 + shape[1] + taps - 1
    height, width = pixels.shape[:2]
    region = pixels[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    pads = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
    if any(pads):
        region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REFLECT)
    kernel_y = interpolation_kernel(round((top - iy) * KERNEL_STEPS), taps)
    kernel_x = interpolation_kernel(round((left - ix) * KERNEL_STEPS), taps)
    filtered = cv2.sepFilter2D(
        region, cv2.CV_32F, kernel_x, kernel_y, dst=out, anchor=(0, 0),
        borderType=cv2.BORDER_REFLECT,
    )  # fmt: skip
    return filtered[: shape[0], : shape[1]]


@functools.lru_cache(maxsize=8192)
def interpolation_kernel(step: int, taps: int) -> np.ndarray:
    """Weights for a shift of ``step / KERNEL_STEPS`` px: bicubic (4 taps, A = -0.75) or linear."""
    x = step / KERNEL_STEPS
    if taps == 2:
        return np.array([1.0 - x, x], np.float32)
    a = -0.75
    w0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    w1 = ((a + 2) * x - (a + 3)) * x * x + 1
    w2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    return np.array([w0, w1, w2, 1.0 - w0 - w1 - w2], np.float32)
