"""Frame quality measures for lucky imaging: sharpness scores that are never quantised to 8 bits.

PlanetarySystemStacker ranks a frame by the standard deviation of the Laplacian of a blurred,
stride-2 downsampled copy, computed on 8-bit data; we compute the same measure in float32, so faint
16-bit detail still separates good frames from bad ones.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["blur", "frame_sharpness", "laplacian_map", "local_contrast"]

BLUR_KERNEL = 7
"""Gaussian kernel width (px) applied before the Laplacian, suppressing pixel noise."""


def blur(mono: np.ndarray) -> np.ndarray:
    """``mono`` blurred by the 7x7 Gaussian that all quality measures start from."""
    return cv2.GaussianBlur(mono.astype(np.float32, copy=False), (BLUR_KERNEL, BLUR_KERNEL), 0)


def laplacian_map(mono: np.ndarray, *, stride: int = 1, blurred: bool = False) -> np.ndarray:
    """The Laplacian of a 7x7-Gaussian-blurred copy of ``mono``, optionally downsampled.

    Pass ``blurred=True`` when ``mono`` has already been through ``blur``.
    """
    blurred = mono if blurred else blur(mono)
    if stride > 1:
        blurred = blurred[::stride, ::stride]
    return cv2.Laplacian(blurred, cv2.CV_32F)


def frame_sharpness(mono: np.ndarray, *, normalise: bool = False, blurred: bool = False) -> float:
    """Overall sharpness of a frame: std of the Laplacian (stride 2); higher is better.

    With ``normalise`` the score is divided by the mean brightness, so that transparency changes
    (thin cloud) do not masquerade as seeing changes.
    """
    score = float(cv2.meanStdDev(laplacian_map(mono, stride=2, blurred=blurred))[1][0, 0])
    if normalise:
        score /= max(float(np.mean(mono)), 1e-6)
    return score


def local_contrast(laplacian: np.ndarray, centres: np.ndarray, half_box: int) -> np.ndarray:
    """Std of ``laplacian`` in a (2*half_box+1)^2 box around each (y, x) of ``centres``.

    Centres are clipped to the image, so boxes at the border shrink to what is inside.
    """
    height, width = laplacian.shape
    size = 2 * half_box + 1
    mean = cv2.boxFilter(laplacian, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.boxFilter(
        laplacian * laplacian, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REFLECT
    )
    ys = np.clip(centres[:, 0], 0, height - 1)
    xs = np.clip(centres[:, 1], 0, width - 1)
    variance = mean_sq[ys, xs] - mean[ys, xs] ** 2
    return np.sqrt(np.clip(variance, 0, None))
