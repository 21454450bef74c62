"""Finding stars: background model and source extraction with sep (SExtractor's engine)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep

__all__ = ["Detection", "detect_stars", "prepare"]

THRESHOLD_SIGMA = 5.0  # detection threshold, in units of the global background rms
MIN_AREA = 5  # pixels above threshold for a detection
BACKGROUND_BOX = 64  # px, mesh size of the background model
BACKGROUND_FILTER = 3  # meshes, median filter of the background model
DEBLEND_THRESHOLDS = 32
DEBLEND_CONTRAST = 0.005

sep.set_extract_pixstack(5_000_000)
sep.set_sub_object_limit(4096)


@dataclass(frozen=True)
class Detection:
    """sep's catalogue and what it was measured on."""

    objects: np.ndarray  # sep's structured array (x, y 0-based; a, b, theta, flux, peak, flag...)
    subtracted: np.ndarray  # background-subtracted image, float32
    mask: np.ndarray | None  # True where pixels were not finite
    background: float  # ADU, global background level
    background_rms: float  # ADU, global background noise


def prepare(data: np.ndarray, *, copy: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """A C-contiguous native float32 image (what sep needs), non-finite pixels set to the median,
    and a mask of those pixels. With ``copy=False`` a finite float32 C-contiguous ``data`` is
    returned as it is (the caller must then not modify it)."""
    image = np.array(data, dtype=np.float32, order="C", copy=copy or None)
    if image.ndim != 2:
        raise ValueError(f"data must be a 2-D image, got shape {image.shape}")
    finite = np.isfinite(image)
    if finite.all():
        return image, None
    if not copy and np.may_share_memory(image, data):
        image = image.copy()  # the caller's pixels are never filled in
    image[~finite] = np.median(image[finite]) if finite.any() else 0.0
    return image, ~finite


def detect_stars(
    data: np.ndarray,
    *,
    threshold: float = THRESHOLD_SIGMA,
    min_area: int = MIN_AREA,
    deblend: bool = True,
) -> Detection:
    """Model the background and extract sources above ``threshold`` x rms (deblended)."""
    image, mask = prepare(data)
    background = sep.Background(
        image, mask=mask, bw=BACKGROUND_BOX, bh=BACKGROUND_BOX, fw=BACKGROUND_FILTER,
        fh=BACKGROUND_FILTER,
    )  # fmt: skip
    level, rms = float(background.globalback), float(background.globalrms)
    background.subfrom(image)
    if rms <= 0 or not np.isfinite(rms):  # a constant frame: nothing to find
        return Detection(np.zeros(0, dtype=_EMPTY.dtype), image, mask, level, max(rms, 0.0))
    objects = sep.extract(
        image,
        threshold,
        err=rms,
        mask=mask,
        minarea=min_area,
        deblend_nthresh=DEBLEND_THRESHOLDS,
        deblend_cont=DEBLEND_CONTRAST if deblend else 1.0,
    )
    return Detection(objects, image, mask, level, rms)


_EMPTY = sep.extract(np.zeros((8, 8), dtype=np.float32), 1.0)
