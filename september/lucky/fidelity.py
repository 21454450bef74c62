"""Fidelity of a lucky-imaging result to a known truth: PSNR after registration and a linear fit.

A stack lives in the coordinates of its best frame and in arbitrary units, so before comparing it
with the simulator's truth we find where it lies on the truth (normalised cross-correlation, then a
sub-pixel refinement that minimises the residual), resample the truth onto the image's grid, fit
``truth ~ a * image + b`` by least squares and measure the PSNR over the interior (edges, which
frames cover unevenly, are excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import minimize

from september.lucky.align import subpixel_peak

__all__ = ["Fidelity", "fidelity"]

_SIMPLEX = np.array([[0.0, 0.0], [0.3, 0.0], [0.0, 0.3]])


@dataclass(frozen=True)
class Fidelity:
    """PSNR in dB (peak = truth's range), RMS error, where the image lies on the truth, the fit."""

    psnr: float
    rms: float
    position: tuple[float, float]
    gain: float
    offset: float


def _fit(
    picture: np.ndarray, truth: np.ndarray, top: float, left: float, margin: int
) -> tuple[float, float, float]:
    matrix = np.array([[1, 0, left], [0, 1, top]], dtype=np.float64)
    height, width = picture.shape
    sampled = cv2.warpAffine(
        truth, matrix, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip
    x = picture[margin:-margin, margin:-margin].astype(np.float64).ravel()
    y = sampled[margin:-margin, margin:-margin].astype(np.float64).ravel()
    gain, offset = np.polyfit(x, y, 1)
    return float(np.sqrt(np.mean((gain * x + offset - y) ** 2))), float(gain), float(offset)


def fidelity(
    image: np.ndarray, truth: np.ndarray, *, margin: int = 24, scale: float = 1.0
) -> Fidelity:
    """Locate ``image`` on ``truth``, fit it linearly and return the PSNR of the fit.

    ``image`` may be a crop of the truth's field (a stack's common area), shifted, and drizzled
    by ``scale`` (it is then resampled back to the truth's pixel size).
    """
    truth = truth.astype(np.float32)
    picture = image.astype(np.float32)
    if picture.ndim == 3:
        picture = picture.mean(axis=2)
    if scale != 1.0:
        size = (round(picture.shape[1] / scale), round(picture.shape[0] / scale))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    template = picture[margin:-margin, margin:-margin]
    corr = cv2.matchTemplate(truth, template, cv2.TM_CCOEFF_NORMED)
    _, _, _, (px, py) = cv2.minMaxLoc(corr)
    sy, sx = subpixel_peak(corr, py, px)
    start = np.array([py + sy - margin, px + sx - margin])
    result = minimize(
        lambda p: _fit(picture, truth, p[0], p[1], margin)[0], start, method="Nelder-Mead",
        options={"xatol": 0.01, "fatol": 1e-6, "initial_simplex": start + _SIMPLEX},
    )  # fmt: skip
    rms, gain, offset = _fit(picture, truth, result.x[0], result.x[1], margin)
    peak = float(truth.max() - truth.min())
    return Fidelity(
        float(20 * np.log10(peak / max(rms, 1e-12))), rms,
        (float(result.x[0]), float(result.x[1])), gain, offset,
    )  # fmt: skip
