"""Registration for lucky imaging: find trackable structure, measure shifts to sub-pixel precision.

Shifts are measured with OpenCV's normalised cross-correlation (``cv2.matchTemplate``) and refined
by a least-squares paraboloid through the 3 x 3 neighbourhood of the correlation peak. A peak on the
border of the search window means the true shift lies outside it: that is reported as a failure
rather than returned as a wrong shift. Planets on black sky can instead be registered by their
centre of gravity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Shift",
    "centre_of_gravity",
    "find_structure_patch",
    "is_isolated_object",
    "match_shift",
    "stacked_peaks",
    "subpixel_peak",
]


@dataclass(frozen=True)
class Shift:
    """A measured displacement (dy, dx) in pixels, its correlation and whether it is trustworthy."""

    dy: float
    dx: float
    score: float
    ok: bool


def subpixel_peak(surface: np.ndarray, y: int, x: int) -> tuple[float, float]:
    """Sub-pixel offset of the maximum near integer peak (y, x) of ``surface`` (paraboloid fit).

    Fits z = a x^2 + b y^2 + c xy + d x + e y + f to the 3 x 3 neighbourhood by least squares
    (closed form on the 3 x 3 grid) and returns the stationary point, limited to +-1 px; returns
    (0, 0) at the border or for a degenerate fit.
    """
    if not (0 < y < surface.shape[0] - 1 and 0 < x < surface.shape[1] - 1):
        return 0.0, 0.0
    rows = surface[y - 1 : y + 2, x - 1 : x + 2].tolist()
    (z00, z01, z02), (z10, z11, z12), (z20, z21, z22) = rows
    left, centre_col, right = z00 + z10 + z20, z01 + z11 + z21, z02 + z12 + z22
    top, centre_row, bottom = z00 + z01 + z02, z10 + z11 + z12, z20 + z21 + z22
    a = (left + right) / 6 - centre_col / 3
    b = (top + bottom) / 6 - centre_row / 3
    c = (z22 - z20 - z02 + z00) / 4
    d = (right - left) / 6
    e = (bottom - top) / 6
    det = 4 * a * b - c * c
    if det <= 0 or a >= 0:
        return 0.0, 0.0
    sx = (c * e - 2 * b * d) / det
    sy = (c * d - 2 * a * e) / det
    return min(1.0, max(-1.0, sy)), min(1.0, max(-1.0, sx))


def match_shift(
    image: np.ndarray,
    template: np.ndarray,
    top: int,
    left: int,
    search: int,
    penalty: float = 0.0,
) -> Shift:
    """Where ``template`` (taken at (top, left) of the reference) lies in ``image``.

    The search covers displacements of up to ``search`` px each way; a peak on the border of that
    range is a failure (``ok`` False). Returns the displacement image_position - reference_position.
    ``penalty`` (per px squared) is subtracted from the correlation at each displacement: a prior
    for small shifts, which decides where the correlation alone is flat (along a straight band).
    """
    th, tw = template.shape
    height, width = image.shape
    y0, x0 = max(0, top - search), max(0, left - search)
    y1, x1 = min(height, top + th + search), min(width, left + tw + search)
    if y1 - y0 < th or x1 - x0 < tw:
        return Shift(0.0, 0.0, 0.0, False)
    window = image[y0:y1, x0:x1]
    corr = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    if penalty:
        corr = corr - penalty * _squared_distances(corr.shape, top - y0, left - x0)
    _, score, _, (px, py) = cv2.minMaxLoc(corr)
    border = (
        (py == 0 and y0 > 0)
        or (px == 0 and x0 > 0)
        or (py == corr.shape[0] - 1 and y1 < height)
        or (px == corr.shape[1] - 1 and x1 < width)
    )
    sy, sx = subpixel_peak(corr, py, px)
    return Shift(
        y0 + py + sy - top, x0 + px + sx - left, float(score), not border and math.isfinite(score)
    )


def _squared_distances(shape: tuple[int, int], y: int, x: int) -> np.ndarray:
    """dy^2 + dx^2 from (y, x) over a grid of ``shape``, float32."""
    rows = (np.arange(shape[0], dtype=np.float32) - y) ** 2
    cols = (np.arange(shape[1], dtype=np.float32) - x) ** 2
    return rows[:, None] + cols[None, :]


def stacked_peaks(surfaces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Peaks of n correlation surfaces (n x h x w) at once, like ``match_shift`` does for one.

    Returns the sub-pixel peak rows and columns (paraboloid fit, as ``subpixel_peak``) and
    whether each peak is trustworthy: inside the surface's border and finite.
    """
    n, height, width = surfaces.shape
    flat = surfaces.reshape(n, height * width)
    best = np.argmax(flat, axis=1)
    py, px = np.divmod(best, width)
    ok = (py > 0) & (py < height - 1) & (px > 0) & (px < width - 1)
    ok &= np.isfinite(flat[np.arange(n), best])
    cy, cx = np.clip(py, 1, height - 2), np.clip(px, 1, width - 2)
    steps = np.arange(-1, 2)
    z = surfaces[
        np.arange(n)[:, None, None],
        (cy[:, None] + steps)[:, :, None],
        (cx[:, None] + steps)[:, None, :],
    ].astype(np.float64)
    columns, rows = z.sum(axis=1), z.sum(axis=2)
    a = (columns[:, 0] + columns[:, 2]) / 6 - columns[:, 1] / 3
    b = (rows[:, 0] + rows[:, 2]) / 6 - rows[:, 1] / 3
    c = (z[:, 2, 2] - z[:, 2, 0] - z[:, 0, 2] + z[:, 0, 0]) / 4
    d = (columns[:, 2] - columns[:, 0]) / 6
    e = (rows[:, 2] - rows[:, 0]) / 6
    det = 4 * a * b - c * c
    fit = (det > 0) & (a < 0)
    safe = np.where(fit, det, 1.0)
    sx = np.where(fit, np.clip((c * e - 2 * b * d) / safe, -1, 1), 0.0)
    sy = np.where(fit, np.clip((c * d - 2 * a * e) / safe, -1, 1), 0.0)
    return py + sy, px + sx, ok


def find_structure_patch(image: np.ndarray, size: tuple[int, int], margin: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` (h, w) patch with the most structure in both x and y.

    Structure is min(sum |d/dx|, sum |d/dy|) over the patch (PlanetarySystemStacker's measure);
    the patch stays ``margin`` px away from the frame edges so it can be searched for.
    """
    height, width = image.shape
    ph, pw = size
    gy = np.abs(np.diff(image, axis=0, append=image[-1:, :]))
    gx = np.abs(np.diff(image, axis=1, append=image[:, -1:]))
    sum_x = cv2.boxFilter(
        gx, cv2.CV_32F, (pw, ph), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
    )
    sum_y = cv2.boxFilter(
        gy, cv2.CV_32F, (pw, ph), normalize=False, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT
    )
    score = np.minimum(sum_x, sum_y)
    y_hi, x_hi = height - ph - margin, width - pw - margin
    if y_hi < margin or x_hi < margin:
        return max(0, (height - ph) // 2), max(0, (width - pw) // 2)
    valid = score[margin : y_hi + 1, margin : x_hi + 1]
    iy, ix = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(iy + margin), int(ix + margin)


def centre_of_gravity(
    mono: np.ndarray, threshold: float = 0.25, out: np.ndarray | None = None
) -> tuple[float, float]:
    """Brightness-weighted centre (y, x) of pixels above ``threshold`` x the maximum.

    Pass a blurred frame: the maximum of a noisy or hot-pixelled frame is not representative.
    ``out`` is an optional float32 scratch array of ``mono``'s shape.
    """
    image = mono.astype(np.float32, copy=False)
    level = threshold * float(cv2.minMaxLoc(image)[1])
    weights = np.subtract(image, np.float32(level), out=out)
    cv2.threshold(weights, 0, 0, cv2.THRESH_TOZERO, dst=weights)
    moments = cv2.moments(weights)
    if moments["m00"] <= 0:
        return (mono.shape[0] - 1) / 2, (mono.shape[1] - 1) / 2
    return moments["m01"] / moments["m00"], moments["m10"] / moments["m00"]


def is_isolated_object(mono: np.ndarray) -> bool:
    """True when the object sits on dark sky (a planet), so centre of gravity can register it."""
    ring = max(2, min(mono.shape) // 20)
    edges = np.concatenate(
        [mono[:ring].ravel(), mono[-ring:].ravel(), mono[:, :ring].ravel(), mono[:, -ring:].ravel()]
    )
    low, high = np.percentile(mono, [1, 99.9])
    return float(np.median(edges)) - low < 0.05 * (high - low)
