"""Cosmetic correction: hot and cold pixels found in the master dark or by a local sigma test.

Defective pixels are replaced by the median of their eight neighbours. The local test only flags a
pixel that stands out from *all* its neighbours, so undersampled star cores (whose neighbours are
still bright) are kept while single hot pixels and cosmic-ray hits are removed.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from september.stars.detect import prepare

__all__ = ["correct_defects", "cosmetic_correction", "dark_defects", "local_defects"]

HOT_SIGMA = 5.0  # dark pixels this many robust sigmas above the median are hot
COLD_SIGMA = 5.0
LOCAL_SIGMA = 6.0  # a light pixel this far above the brightest neighbour (noise units) is hot
NEIGHBOUR_FRACTION = 0.15  # ... and its brightest neighbour holds less than this share of it
# (a Gaussian star of FWHM >= 1.3 px puts > 15% of its peak into its brightest neighbour)

_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)


def _robust(data: np.ndarray, max_samples: int = 1_000_000) -> tuple[float, float]:
    """Median and MAD-based sigma, from a regular sample of at most ``max_samples`` pixels."""
    values = data.reshape(-1)[:: max(1, data.size // max_samples)]
    values = values[np.isfinite(values)]
    centre = float(np.median(values))
    return centre, 1.4826 * float(np.median(np.abs(values - centre)))


def dark_defects(
    dark: np.ndarray, *, hot_sigma: float = HOT_SIGMA, cold_sigma: float = COLD_SIGMA
) -> np.ndarray:
    """Boolean map of hot and cold pixels of a master dark."""
    centre, sigma = _robust(dark)
    sigma = max(sigma, 1e-6)
    return (dark > centre + hot_sigma * sigma) | (dark < centre - cold_sigma * sigma)


def _window_values(data: np.ndarray, ys: np.ndarray, xs: np.ndarray, half: int) -> np.ndarray:
    """(window pixels, N) values around each (y, x), edges reflected, centre excluded."""
    h, w = data.shape
    offsets = [(dy, dx) for dy in range(-half, half + 1) for dx in range(-half, half + 1)]
    rows = []
    for dy, dx in offsets:
        if dy == 0 and dx == 0:
            continue
        yy = np.abs(ys + dy)
        yy = np.where(yy >= h, 2 * (h - 1) - yy, yy)
        xx = np.abs(xs + dx)
        xx = np.where(xx >= w, 2 * (w - 1) - xx, xx)
        rows.append(data[yy, xx])
    return np.stack(rows)


def local_defects(data: np.ndarray, *, sigma: float = LOCAL_SIGMA) -> np.ndarray:
    """Boolean map of isolated hot or cold pixels of a light (local sigma test).

    Candidates stand ``sigma`` noise units above their brightest (or below their faintest)
    neighbour; a hot candidate is kept only if its brightest neighbour holds less than
    NEIGHBOUR_FRACTION of its excess over the local (5 x 5 median) background, which spares the
    cores of all but the most undersampled stars.
    """
    filled, _ = prepare(data, copy=False)
    ring = _RING.astype(np.uint8)
    diffs = np.diff(filled[:: max(1, filled.shape[0] // 256)], axis=1)
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0)
    limit = np.float32(sigma * max(noise, 1e-6))
    neighbours_max = cv2.dilate(filled, ring, borderType=cv2.BORDER_REFLECT_101)
    hot = (filled - neighbours_max) > limit
    del neighbours_max
    cold = (cv2.erode(filled, ring, borderType=cv2.BORDER_REFLECT_101) - filled) > limit
    ys, xs = np.nonzero(hot)
    if len(ys):
        background = np.median(_window_values(filled, ys, xs, 2), axis=0)
        brightest = _window_values(filled, ys, xs, 1).max(axis=0)
        excess = filled[ys, xs] - background
        star = brightest - background >= NEIGHBOUR_FRACTION * excess
        hot[ys[star], xs[star]] = False
    return hot | cold


def correct_defects(data: np.ndarray, defects: np.ndarray) -> np.ndarray:
    """Replace the ``defects`` pixels by the median of their neighbours (a new float32 array)."""
    out = np.array(data, np.float32)
    ys, xs = np.nonzero(defects)
    if len(ys) == 0:
        return out
    windows = _window_values(out, ys, xs, 1)
    windows[_window_values(defects, ys, xs, 1)] = np.nan  # defective neighbours do not vote
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods use the fallback
        replacement = np.nanmedian(windows, axis=0)
    fallback = float(np.nanmedian(out[:: max(1, out.shape[0] // 256)]))
    out[ys, xs] = np.where(np.isfinite(replacement), replacement, fallback)
    return out


def cosmetic_correction(
    data: np.ndarray, *, dark_map: np.ndarray | None = None, local: bool = True
) -> tuple[np.ndarray, int]:
    """Correct the pixels flagged by ``dark_map`` and (optionally) the local test.

    Returns the corrected frame and how many pixels were replaced.
    """
    defects = np.zeros(data.shape, bool) if dark_map is None else dark_map.copy()
    if local:
        defects |= local_defects(data)
    defects &= np.isfinite(data)
    return correct_defects(data, defects), int(defects.sum())
