"""Frame quality measures for lucky imaging: sharpness scores that are never quantised to 8 bits.

PlanetarySystemStacker ranks a frame by the standard deviation of the Laplacian of a blurred,
stride-2 downsampled copy, computed on 8-bit data. We compute the same kind of measure in float32,
so faint 16-bit detail still separates good frames from bad ones, on a Gaussian pyramid level
(``cv2.pyrDown``: a 5x5 Gaussian, then every second pixel), which suppresses pixel noise as the
blur did at a quarter of the cost and is shared with registration.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["blur", "downsample", "frame_sharpness", "laplacian_map", "local_contrast"]

BLUR_KERNEL = 7
"""Gaussian kernel width (px) applied to full-resolution pixels before shifts are measured."""


_GAUSSIAN = cv2.getGaussianKernel(BLUR_KERNEL, 0, ktype=cv2.CV_32F)


def blur(mono: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``mono`` (uint8, uint16 or float32) through the 7x7 Gaussian, as float32 (into ``out``).

    This is ``cv2.GaussianBlur(mono, (7, 7), 0)`` in float32, without converting ``mono`` first.
    """
    return cv2.sepFilter2D(mono, cv2.CV_32F, _GAUSSIAN, _GAUSSIAN, dst=out)


def downsample(mono: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The next Gaussian pyramid level of ``mono`` (pixel (i, j) centred on (2i, 2j))."""
    return cv2.pyrDown(mono.astype(np.float32, copy=False), dst=out)


def laplacian_map(half: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The 3x3-aperture Laplacian of a ``downsample``-d frame, written into ``out`` when given.

    The 3x3 aperture ([[2, 0, 2], [0, -8, 0], [2, 0, 2]]) smooths a little along with the
    differencing, which suits the pyramid level better than the plain 4-neighbour Laplacian.
    """
    return cv2.Laplacian(half, cv2.CV_32F, dst=out, ksize=3)


def frame_sharpness(
    half: np.ndarray, *, normalise: bool = False, out: np.ndarray | None = None
) -> float:
    """Overall sharpness of a frame from its ``downsample``-d copy: std of the Laplacian.

    Higher is better. With ``normalise`` the score is divided by the mean brightness, so that
    transparency changes (thin cloud) do not masquerade as seeing changes. ``out`` is an optional
    scratch array of ``half``'s shape.
    """
    laplacian = laplacian_map(half, out)
    count = laplacian.size
    mean = cv2.sumElems(laplacian)[0] / count
    # The sum of squares from cv2.norm (double accumulation): much faster than cv2.meanStdDev.
    score = math.sqrt(max(cv2.norm(laplacian, cv2.NORM_L2SQR) / count - mean * mean, 0.0))
    if normalise:
        score /= max(float(cv2.mean(half)[0]), 1e-6)
    return score


def local_contrast(
    laplacian: np.ndarray, centres: np.ndarray, half_box: int, scratch: np.ndarray | None = None
) -> np.ndarray:
    """Std of ``laplacian`` in a (2*half_box+1)^2 box around each (y, x) of ``centres``.

    Centres are clipped to the image, and boxes at the border shrink to what is inside. Box sums
    come from integral images, so the cost does not grow with the number of centres. ``scratch``
    is an optional float32 work array of shape (3, height + 1, width + 1).
    """
    height, width = laplacian.shape
    if scratch is None:
        scratch = np.empty((3, height + 1, width + 1), np.float32)
    # Two single integrals are several times faster than cv2.integral2 in float32.
    sums = cv2.integral(laplacian, scratch[0], cv2.CV_32F).ravel()
    squared = cv2.multiply(laplacian, laplacian, dst=scratch[2, :height, :width])
    squares = cv2.integral(squared, scratch[1], cv2.CV_32F).ravel()
    ys, xs = centres[:, 0], centres[:, 1]
    stride = width + 1
    if (
        ys.min() >= half_box
        and xs.min() >= half_box
        and ys.max() + half_box < height
        and xs.max() + half_box < width
    ):
        # Every box inside: one gather of the four corners per integral.
        low, high = -half_box, half_box + 1
        corners = np.array(
            [high * stride + high, low * stride + high, high * stride + low, low * stride + low]
        )
        index = (ys * stride + xs)[None, :] + corners[:, None]
        count = float((2 * half_box + 1) ** 2)
    else:
        ys, xs = np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)
        y0, y1 = np.maximum(ys - half_box, 0), np.minimum(ys + half_box + 1, height)
        x0, x1 = np.maximum(xs - half_box, 0), np.minimum(xs + half_box + 1, width)
        index = np.stack([y1 * stride + x1, y0 * stride + x1, y1 * stride + x0, y0 * stride + x0])
        count = ((y1 - y0) * (x1 - x0)).astype(np.float64)
    signs = np.array([1.0, -1.0, -1.0, 1.0])
    total = signs @ sums[index].astype(np.float64)
    total_sq = signs @ squares[index].astype(np.float64)
    variance = total_sq / count - (total / count) ** 2
    return np.sqrt(np.clip(variance, 0, None))
