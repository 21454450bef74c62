"""Synthetic star fields of real (bundled Gaia) stars seen through a known TAN WCS."""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

from september.sky.gaia import load_bundled_gaia
from tests.stars.synthetic import render


def tan_wcs(
    ra: float, dec: float, scale: float, rotation: float, width: int, height: int,
    *, flipped: bool = False,
) -> WCS:  # fmt: skip
    """TAN WCS centred on the frame, ``scale`` arcsec/px, +y axis ``rotation`` deg E of N."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(width + 1) / 2, (height + 1) / 2]
    theta = np.radians(rotation)
    s = scale / 3600.0
    # normal parity: +x to the West (RA decreasing) when rotation = 0
    # columns of CD: (East, North) offsets of one pixel step along x and along y
    y_axis = np.array([np.sin(theta), np.cos(theta)])
    x_axis = (1.0 if flipped else -1.0) * np.array([np.cos(theta), -np.sin(theta)])
    wcs.wcs.cd = s * np.column_stack([x_axis, y_axis])
    return wcs


def gaia_field(wcs: WCS, width: int, height: int, mag_limit: float = 10.0) -> np.ndarray:
    """Pixel positions (0-based) and G magnitudes of bundled Gaia stars inside the frame."""
    stars = load_bundled_gaia()
    stars = stars[stars["mag"] <= mag_limit]
    x, y = wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    inside = (x > 5) & (y > 5) & (x < width - 6) & (y < height - 6) & np.isfinite(x)
    ra0, dec0 = wcs.wcs.crval
    near = np.cos(np.radians(stars["dec"])) * np.cos(np.radians(dec0)) * np.cos(
        np.radians(stars["ra"] - ra0)
    ) + np.sin(np.radians(stars["dec"])) * np.sin(np.radians(dec0))
    keep = inside & (near > np.cos(np.radians(20)))
    return np.column_stack([x[keep], y[keep], stars["mag"][keep]])


def render_field(
    wcs: WCS, width: int, height: int, rng: np.random.Generator, fwhm: float = 2.5
) -> np.ndarray:
    """A 16-bit-like frame of the Gaia stars (G=10 gives 2e4 ADU) on a noisy background."""
    field = gaia_field(wcs, width, height)
    flux = 2e4 * 10 ** (-0.4 * (field[:, 2] - 10.0))
    image = render((height, width), field[:, 0], field[:, 1], flux, fwhm=fwhm, rng=rng, box=12)
    return np.clip(image, 0, 65535)
