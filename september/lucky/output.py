"""Writing lucky-imaging results: 16-bit TIFF, PNG or FITS images and a JSON log beside them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from september.errors import SeptemberError

__all__ = ["to_uint16", "write_image", "write_log"]

FORMATS = (".tif", ".tiff", ".png", ".fits", ".fit")


def to_uint16(image: np.ndarray, full_scale: float, *, stretch: bool = False) -> np.ndarray:
    """Scale ``image`` (camera units up to ``full_scale``) to 0-65535, clipping overshoot.

    With ``stretch`` the 0.01th-99.99th percentile range is mapped to the full 16 bits instead.
    """
    if stretch:
        low, high = np.percentile(image, [0.01, 99.99])
        data = (image.astype(np.float64) - low) * (65535.0 / max(high - low, 1e-12))
    else:
        data = image * np.float32(65535.0 / full_scale)
    return np.rint(np.clip(data, 0, 65535, out=data), out=data).astype(np.uint16)


def write_image(path: Path, image16: np.ndarray, *, header: dict | None = None) -> Path:
    """Write a uint16 image (2-D or H x W x 3 RGB) as TIFF, PNG or FITS, chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SeptemberError(f"cannot write {path}: use a .tif, .png or .fits file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".fits", ".fit"):
        from astropy.io import fits

        data = np.moveaxis(image16, -1, 0) if image16.ndim == 3 else image16
        hdu = fits.PrimaryHDU(data)
        for key, value in (header or {}).items():
            hdu.header[key[:8].upper()] = value
        hdu.writeto(path, overwrite=True)
        return path
    data = cv2.cvtColor(image16, cv2.COLOR_RGB2BGR) if image16.ndim == 3 else image16
    # Uncompressed TIFF: LZW costs time and, on noisy 16-bit data, makes the file larger.
    params = [cv2.IMWRITE_TIFF_COMPRESSION, 1] if suffix in (".tif", ".tiff") else []
    if not cv2.imwrite(str(path), data, params):
        raise SeptemberError(f"OpenCV could not write {path}; check the folder is writable.")
    return path


def write_log(path: Path, log: dict) -> Path:
    """Write the processing log as indented JSON."""
    path = Path(path)
    path.write_text(json.dumps(log, indent=1, default=str) + "\n")
    return path
