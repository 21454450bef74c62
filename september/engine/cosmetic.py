"""Cosmetic correction: hot and cold pixels found in the master dark or by a local sigma test.

Defective pixels are replaced by the median of their eight neighbours. The local test only flags a
pixel that stands out from *all* its neighbours, so undersampled star cores (whose neighbours are
still bright) are kept while single hot pixels and cosmic-ray hits are removed.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

__all__ = ["correct_defects", "cosmetic_correction", "dark_defects", "local_defects"]

HOT_SIGMA = 5.0  # dark pixels this many robust sigmas above the median are hot
COLD_SIGMA = 5.0
LOCAL_SIGMA = 6.0  # a light pixel this far above the brightest neighbour (noise units) is hot
NEIGHBOUR_FRACTION = 0.5  # ... and its brightest neighbour holds less than this share of it

_RING = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)


def _robust(data: np.ndarray) -> tuple[float, float]:
    values = data[np.isfinite(data)]
    centre = float(np.median(values))
    return centre, 1.4826 * float(np.median(np.abs(values - centre)))


def dark_defects(
    dark: np.ndarray, *, hot_sigma: float = HOT_SIGMA, cold_sigma: float = COLD_SIGMA
) -> np.ndarray:
    """Boolean map of hot and cold pixels of a master dark."""
    centre, sigma = _robust(dark)
    sigma = max(sigma, 1e-6)
    return (dark > centre + hot_sigma * sigma) | (dark < centre - cold_sigma * sigma)


def local_defects(data: np.ndarray, *, sigma: float = LOCAL_SIGMA) -> np.ndarray:
    """Boolean map of isolated hot or cold pixels of a light (local sigma test)."""
    filled = np.where(np.isfinite(data), data, np.nanmedian(data)).astype(np.float32)
    neighbours_max = ndimage.maximum_filter(filled, footprint=_RING, mode="mirror")
    neighbours_min = ndimage.minimum_filter(filled, footprint=_RING, mode="mirror")
    background = ndimage.median_filter(filled, size=5, mode="nearest")
    diffs = np.diff(filled[::4], axis=1)
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0)
    noise = max(noise, 1e-6)
    excess = filled - background
    hot = (filled - neighbours_max > sigma * noise) & (
        neighbours_max - background < NEIGHBOUR_FRACTION * excess
    )
    cold = neighbours_min - filled > sigma * noise
    return hot | cold


def correct_defects(data: np.ndarray, defects: np.ndarray) -> np.ndarray:
    """Replace the ``defects`` pixels by the median of their neighbours (a new float32 array)."""
    out = np.asarray(data, np.float32).copy()
    if not defects.any():
        return out
    masked = np.where(defects, np.nan, out)
    ys, xs = np.nonzero(defects)
    padded = np.pad(masked, 1, constant_values=np.nan)
    windows = np.stack(
        [padded[ys + dy, xs + dx] for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods use the fallback
        replacement = np.nanmedian(windows, axis=0)
    fallback = np.nanmedian(out) if np.isfinite(out).any() else 0.0
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
