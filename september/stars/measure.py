"""Star measurements of a frame (count, FWHM, HFR, eccentricity, background, noise) for grading.

Detection is sep's; FWHM comes from a batched Moffat/Gaussian profile fit
(:mod:`september.stars.profile`), HFR from sep's half-flux radius, and the shape (a, b, theta,
eccentricity ``sqrt(1 - b^2/a^2)``) from Gaussian-windowed second moments. Summary values are
medians over "good" stars: not saturated, not at the edge, not blended, fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sep

from september.stars.detect import detect_stars
from september.stars.profile import cutouts, fit_profiles, windowed_shape

__all__ = [
    "FLAG_BLENDED",
    "FLAG_COMPACT",
    "FLAG_EDGE",
    "FLAG_SATURATED",
    "FLAG_UNFITTED",
    "STAR_DTYPE",
    "StarMeasurements",
    "measure_stars",
]

FLAG_BLENDED = 1  # deblended from or touching another source
FLAG_SATURATED = 2  # peak at the saturation level
FLAG_EDGE = 4  # too close to the frame edge for a full profile
FLAG_UNFITTED = 8  # the profile fit failed (stars beyond max_fit are not fitted, not flagged)
FLAG_COMPACT = 16  # narrower than a star can be: hot pixel or cosmic ray
BAD_FLAGS = FLAG_SATURATED | FLAG_EDGE | FLAG_UNFITTED | FLAG_COMPACT | FLAG_BLENDED

MAX_FIT = 400  # brightest stars fitted for FWHM and shape; plenty for robust medians
MIN_FWHM = 0.8  # px: anything narrower is not a star seen through optics
FIT_RADIUS_RANGE = (3, 15)  # px, half-size of the fitted cutouts

STAR_DTYPE = np.dtype(
    [
        ("x", "f8"), ("y", "f8"), ("flux", "f8"), ("peak", "f8"), ("fwhm", "f8"), ("hfr", "f8"),
        ("a", "f8"), ("b", "f8"), ("theta", "f8"), ("eccentricity", "f8"), ("flag", "i4"),
    ]
)  # fmt: skip


@dataclass(frozen=True)
class StarMeasurements:
    """Stars of one frame (sorted by flux, brightest first) and their summary."""

    stars: np.ndarray  # STAR_DTYPE; x, y 0-based px
    count: int  # stars detected
    good: int  # stars the medians are taken over
    fwhm: float | None  # px, median over good stars
    hfr: float | None  # px
    eccentricity: float | None
    background: float  # ADU, median background level
    background_rms: float  # ADU, global noise
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no per-star table)."""
        return {
            "count": self.count,
            "good": self.good,
            "fwhm": self.fwhm,
            "hfr": self.hfr,
            "eccentricity": self.eccentricity,
            "background": self.background,
            "background_rms": self.background_rms,
            "width": self.width,
            "height": self.height,
        }


def measure_stars(
    data: np.ndarray,
    *,
    threshold: float = 5.0,
    saturation: float | None = None,
    max_fit: int = MAX_FIT,
) -> StarMeasurements:
    """Detect and measure the stars of a 2-D image.

    ``threshold`` is the detection level in background sigmas. ``saturation`` is the ADU level
    of a saturated pixel; by default it is taken as the image maximum when several pixels sit
    there (clipped stars), otherwise nothing counts as saturated.
    """
    detection = detect_stars(data, threshold=threshold)
    image, objects = detection.subtracted, detection.objects
    height, width = image.shape
    order = np.argsort(objects["flux"])[::-1]
    objects = objects[order]
    stars = np.zeros(len(objects), dtype=STAR_DTYPE)
    for name in ("x", "y", "flux", "peak", "a", "b", "theta"):
        stars[name] = objects[name]
    stars["fwhm"] = np.nan
    stars["eccentricity"] = np.nan
    stars["flag"] = np.where(objects["flag"] & sep.OBJ_MERGED, FLAG_BLENDED, 0)
    level = _saturation_level(data, saturation)
    stars["flag"] |= np.where(objects["peak"] + detection.background >= level, FLAG_SATURATED, 0)
    if len(stars):
        _measure_profiles(image, stars, max_fit)
    good = stars[(stars["flag"] & BAD_FLAGS) == 0]
    return StarMeasurements(
        stars=stars,
        count=len(stars),
        good=len(good),
        fwhm=_median(good["fwhm"]),
        hfr=_median(good["hfr"]),
        eccentricity=_median(good["eccentricity"]),
        background=detection.background,
        background_rms=detection.background_rms,
        width=width,
        height=height,
    )


def _measure_profiles(image: np.ndarray, stars: np.ndarray, max_fit: int) -> None:
    """Fill hfr, fwhm, a, b, theta, eccentricity and the edge/fit flags (in place)."""
    height, width = image.shape
    x, y = stars["x"], stars["y"]
    size_guess = np.clip(2.0 * np.sqrt(np.abs(stars["a"] * stars["b"])), 1.0, 20.0)
    sample = np.flatnonzero(stars["flag"] == 0)[:200]  # bright unblended stars set the scale
    sample = sample if len(sample) else np.arange(min(len(stars), 200))
    first_hfr, _ = sep.flux_radius(
        image, x[sample], y[sample], np.clip(4 * size_guess[sample], 3, 40), 0.5, subpix=5
    )
    finite = first_hfr[np.isfinite(first_hfr)]
    typical_hfr = float(np.median(finite)) if len(finite) else float(np.median(size_guess))
    radius = int(np.clip(math.ceil(3 * typical_hfr), *FIT_RADIUS_RANGE))
    edge = (x < radius) | (y < radius) | (x > width - 1 - radius) | (y > height - 1 - radius)
    stars["flag"] |= np.where(edge, FLAG_EDGE, 0)
    rmax = np.full(len(stars), float(radius))
    hfr, hfr_flag = sep.flux_radius(image, x, y, rmax, 0.5, subpix=5)
    stars["hfr"] = np.where(hfr_flag == 0, hfr, np.nan)

    candidates = np.flatnonzero((stars["flag"] & (FLAG_EDGE | FLAG_SATURATED)) == 0)[:max_fit]
    if not len(candidates):
        return
    pixels, dx, dy, cx, cy = cutouts(image, x[candidates], y[candidates], radius)
    weights = (dx**2 + dy**2 <= radius**2).astype(np.float64)[None, :].repeat(len(candidates), 0)
    fit = fit_profiles(
        pixels,
        dx,
        dy,
        weights,
        x[candidates] - cx,
        y[candidates] - cy,
        stars["peak"][candidates],
        2 * np.nan_to_num(stars["hfr"][candidates], nan=typical_hfr),
    )
    a, b, theta = windowed_shape(pixels, dx, dy, fit.x, fit.y, np.maximum(fit.fwhm, 1.0) / 2.3548)
    ok = fit.ok & np.isfinite(a) & np.isfinite(b)
    chosen = candidates[ok]
    stars["fwhm"][chosen] = fit.fwhm[ok]
    stars["x"][chosen] = cx[ok] + fit.x[ok]
    stars["y"][chosen] = cy[ok] + fit.y[ok]
    stars["a"][chosen], stars["b"][chosen], stars["theta"][chosen] = a[ok], b[ok], theta[ok]
    stars["eccentricity"][chosen] = np.sqrt(np.clip(1 - (b[ok] / a[ok]) ** 2, 0, 1))
    stars["flag"][candidates[~ok]] |= FLAG_UNFITTED
    compact = chosen[fit.fwhm[ok] < MIN_FWHM]
    stars["flag"][compact] |= FLAG_COMPACT


def _saturation_level(data: np.ndarray, saturation: float | None) -> float:
    if saturation is not None:
        return float(saturation)
    top = float(np.nanmax(data)) if data.size else 0.0
    clipped = np.count_nonzero(data >= top - 1e-3 * abs(top)) if np.isfinite(top) else 0
    return 0.999 * top if clipped >= 3 else math.inf


def _median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else None
