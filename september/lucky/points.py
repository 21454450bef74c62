"""The alignment-point mesh: where local shifts are measured and patches are stacked.

Points sit on a regular grid whose spacing is chosen independently of the box width (a weakness of
PlanetarySystemStacker, where the two are tied), spanning the whole common area so patches reach
the edges. Points whose box is too dim or has too little structure are dropped; a background image
fills in there.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["alignment_points"]


def _axis(length: int, half_patch: int, step: int) -> np.ndarray:
    if length <= 2 * half_patch:
        return np.array([length // 2])
    count = max(1, math.ceil((length - 2 * half_patch) / step)) + 1
    return np.rint(np.linspace(half_patch, length - 1 - half_patch, count)).astype(int)


def alignment_points(
    reference: np.ndarray,
    *,
    box: int,
    step: int,
    half_patch: int,
    min_brightness: float,
    min_structure: float,
) -> tuple[np.ndarray, dict[str, int]]:
    """Centres (y, x) of the alignment points kept on ``reference``, and counts of dropped points.

    ``min_brightness`` is an absolute level the box maximum must reach; ``min_structure`` a fraction
    of the best point's structure (mean gradient magnitude in the box) below which a point is
    dropped as featureless.
    """
    height, width = reference.shape
    ys = _axis(height, half_patch, step)
    xs = _axis(width, half_patch, step)
    centres = np.array([(y, x) for y in ys for x in xs], dtype=int)
    blurred = cv2.GaussianBlur(reference, (0, 0), 1.0)
    gy = cv2.Sobel(blurred, cv2.CV_32F, 0, 1, ksize=3)
    gx = cv2.Sobel(blurred, cv2.CV_32F, 1, 0, ksize=3)
    gradient = cv2.boxFilter(np.hypot(gx, gy), cv2.CV_32F, (box, box))
    brightest = cv2.dilate(blurred, np.ones((box, box), np.uint8))
    structure = gradient[centres[:, 0], centres[:, 1]]
    bright = brightest[centres[:, 0], centres[:, 1]]
    keep_bright = bright >= min_brightness
    best = float(structure[keep_bright].max()) if keep_bright.any() else 0.0
    keep_structure = structure >= min_structure * best
    keep = keep_bright & keep_structure
    dropped = {
        "dim": int((~keep_bright).sum()),
        "structureless": int((keep_bright & ~keep_structure).sum()),
    }
    return centres[keep], dropped
