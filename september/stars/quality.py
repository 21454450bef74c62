"""Per-frame quality metrics that grading compares: seeing, shape, sky, signal-to-noise and
photometry against a reference catalogue, as pure functions of arrays and numbers.

Photometric conventions: the zero point ``zp`` is the catalogue magnitude of a star giving
1 ADU/s in the frame (``zp = m + 2.5 log10(flux / exposure)``); transparency is the flux ratio
``10 ** (-0.4 * (zp_reference - zp))`` against the best frames of the same filter and rig.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FWHM_PER_SIGMA",
    "SkyPhotometry",
    "airmass",
    "angular_distance",
    "aperture_photometry",
    "background_gradient",
    "catalogue_fraction",
    "fwhm_arcsec",
    "limiting_magnitude",
    "off_target_deg",
    "reference_zero_point",
    "snr_weight",
    "trailing_indicator",
    "transparency",
    "zero_point",
]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
LIMIT_SNR = 5.0  # signal-to-noise that defines the limiting magnitude
WEIGHT_MAG = 15.0  # catalogue magnitude of the reference star behind the SNR weight
SATURATION_FRACTION = 0.97  # stars peaking above this fraction of saturation may be clipped
MIN_PHOTOMETRIC_STARS = 3  # fewer matched unsaturated stars: no zero point
REFERENCE_QUANTILE = 0.9  # the "best frames": this quantile of zero points in a group
APERTURE_FWHM = 3.0  # photometric aperture radius, in FWHM (Moffat beta 3 leaves ~1% outside)
BACKGROUND_BOX = 64  # px, mesh size of the background model
ANNULUS = (1.5, 2.5)  # local sky annulus, in aperture radii: removes light of unresolved stars


def fwhm_arcsec(fwhm_px: float | None, pixel_scale: float | None) -> float | None:
    """FWHM in arcseconds from pixels and the plate scale (arcsec/px)."""
    if fwhm_px is None or pixel_scale is None or not np.isfinite(fwhm_px):
        return None
    return float(fwhm_px * pixel_scale)


def _psf_area(fwhm_px: float) -> float:
    """Noise-equivalent area (px^2) of a Gaussian PSF: 4 pi sigma^2."""
    sigma = fwhm_px / FWHM_PER_SIGMA
    return 4.0 * math.pi * sigma * sigma


def background_gradient(background: np.ndarray) -> float:
    """Range (ADU) of the best-fitting plane of a background map across the frame.

    ``background`` is a smooth sky model (e.g. ``sep.Background(data).back()``) or its mesh;
    a flat sky gives ~0, light pollution or a moon gradient gives the level difference
    between the frame's brightest and darkest corners.
    """
    height, width = background.shape
    yy, xx = np.mgrid[0:height, 0:width]
    design = np.column_stack([np.ones(background.size), xx.ravel(), yy.ravel()])
    coeffs, *_ = np.linalg.lstsq(design, background.ravel().astype(float), rcond=None)
    return float(abs(coeffs[1]) * (width - 1) + abs(coeffs[2]) * (height - 1))


def trailing_indicator(a: np.ndarray, b: np.ndarray, theta: np.ndarray) -> float:
    """Length of the mean ellipticity vector of the stars (0 round .. 1 lines).

    Each star contributes ``(1 - b/a) * exp(2i theta)``: elongations in random directions
    (optics, noise) cancel, elongations sharing one position angle (a trailed or badly guided
    frame) add up. ``theta`` in radians.
    """
    a, b, theta = (np.asarray(v, float) for v in (a, b, theta))
    good = np.isfinite(a) & np.isfinite(b) & np.isfinite(theta) & (a > 0)
    if good.sum() < 3:
        return float("nan")
    ellipticity = 1.0 - np.clip(b[good] / a[good], 0.0, 1.0)
    vector = ellipticity * np.exp(2j * theta[good])
    return float(abs(np.mean(vector)))


def zero_point(
    flux: np.ndarray,
    cat_mag: np.ndarray,
    exposure: float,
    *,
    peak: np.ndarray | None = None,
    saturation: float | None = None,
) -> tuple[float, int]:
    """Robust photometric zero point (mag of a 1 ADU/s star) from matched stars.

    ``flux`` is the instrumental flux (ADU, background subtracted) of stars matched to
    catalogue magnitudes ``cat_mag``; stars whose ``peak`` exceeds ``SATURATION_FRACTION`` of
    ``saturation`` are left out. Returns ``(zp, stars_used)``; ``zp`` is NaN without stars.
    """
    flux = np.asarray(flux, float)
    cat_mag = np.asarray(cat_mag, float)
    good = np.isfinite(flux) & (flux > 0) & np.isfinite(cat_mag) & (exposure > 0)
    if peak is not None and saturation:
        good &= np.asarray(peak, float) < SATURATION_FRACTION * saturation
    if good.sum() < MIN_PHOTOMETRIC_STARS:
        return float("nan"), int(good.sum())
    values = cat_mag[good] + 2.5 * np.log10(flux[good] / exposure)
    median = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - median)) or 0.05
    kept = values[np.abs(values - median) <= 3.0 * mad]
    return float(np.median(kept)), int(good.sum())


def reference_zero_point(zero_points: np.ndarray) -> float:
    """Zero point of the best frames of a group: a high quantile, robust to one lucky frame."""
    values = np.asarray(zero_points, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(np.quantile(values, REFERENCE_QUANTILE))


def transparency(zp: float, zp_reference: float) -> float:
    """Flux throughput relative to the reference zero point (1 = as clear as the best)."""
    if not (np.isfinite(zp) and np.isfinite(zp_reference)):
        return float("nan")
    return float(10.0 ** (-0.4 * (zp_reference - zp)))


def limiting_magnitude(zp: float, exposure: float, noise: float, fwhm_px: float) -> float:
    """Catalogue magnitude of a point source detected at ``LIMIT_SNR`` sigma over the sky noise.

    ``noise`` is the per-pixel background rms (ADU) and ``fwhm_px`` the stellar FWHM; the
    source's own shot noise is neglected (sky-limited regime).
    """
    if not all(np.isfinite(v) and v > 0 for v in (exposure, noise, fwhm_px)):
        return float("nan")
    flux = LIMIT_SNR * noise * math.sqrt(_psf_area(fwhm_px))
    return float(zp - 2.5 * math.log10(flux / exposure))


def snr_weight(zp: float, exposure: float, noise: float, fwhm_px: float) -> float:
    """Squared signal-to-noise of a ``WEIGHT_MAG`` star: the frame's weight in a stack.

    Rises with transparency and exposure, falls with sky noise and seeing; proportional to
    the inverse variance of that star's flux in the frame.
    """
    if not all(np.isfinite(v) and v > 0 for v in (exposure, noise, fwhm_px)) or not np.isfinite(zp):
        return float("nan")
    flux = exposure * 10.0 ** (0.4 * (zp - WEIGHT_MAG))
    return float((flux / (noise * math.sqrt(_psf_area(fwhm_px)))) ** 2)


def catalogue_fraction(expected_mag: np.ndarray, matched_mag: np.ndarray, limit: float) -> float:
    """Fraction of catalogue stars brighter than ``limit`` in the field that were detected.

    ``expected_mag`` are the magnitudes of all catalogue stars inside the frame,
    ``matched_mag`` those of the catalogue stars matched to a detection.
    """
    expected = np.count_nonzero(np.asarray(expected_mag, float) <= limit)
    if expected == 0:
        return float("nan")
    found = np.count_nonzero(np.asarray(matched_mag, float) <= limit)
    return float(min(found / expected, 1.0))


def angular_distance(
    ra: np.ndarray, dec: np.ndarray, ra2: np.ndarray, dec2: np.ndarray
) -> np.ndarray:
    """Great-circle distances (deg) between arrays of positions (haversine; NaN in, NaN out)."""
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra, dec, ra2, dec2))
    h = np.sin((d1 - d2) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r1 - r2) / 2) ** 2
    return np.degrees(2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def off_target_deg(ra: float, dec: float, target_ra: float, target_dec: float) -> float:
    """Great-circle distance (deg) between the solved centre and the intended target."""
    r1, d1, r2, d2 = map(math.radians, (ra, dec, target_ra, target_dec))
    h = math.sin((d1 - d2) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r1 - r2) / 2) ** 2
    return math.degrees(2.0 * math.asin(math.sqrt(min(max(h, 0.0), 1.0))))


@dataclass(frozen=True)
class SkyPhotometry:
    """Aperture fluxes of given stars and the frame's sky model summary."""

    flux: np.ndarray  # ADU, background subtracted
    radius: float  # aperture radius, px
    gradient: float  # ADU across the frame (see background_gradient)


def aperture_photometry(
    data: np.ndarray, x: np.ndarray, y: np.ndarray, fwhm_px: float
) -> SkyPhotometry:
    """Background-subtracted flux in circular apertures of ``APERTURE_FWHM`` x FWHM radius.

    A fixed multiple of the FWHM keeps the fraction of starlight captured the same in good and
    bad seeing, so zero points compare across frames.
    """
    import sep

    image = np.ascontiguousarray(data, dtype=np.float32)
    box = int(min(BACKGROUND_BOX, max(8, min(image.shape) // 4)))
    background = sep.Background(image, bw=box, bh=box)
    radius = float(APERTURE_FWHM * fwhm_px) if np.isfinite(fwhm_px) and fwhm_px > 0 else 6.0
    subtracted = image - background.back()
    flux, _, _ = sep.sum_circle(
        subtracted,
        np.asarray(x, float),
        np.asarray(y, float),
        radius,
        bkgann=(radius * ANNULUS[0], radius * ANNULUS[1]),
        subpix=5,
    )
    return SkyPhotometry(
        flux=np.asarray(flux, float),
        radius=radius,
        gradient=background_gradient(background.back()[::8, ::8]),  # plane range, any sampling
    )


def airmass(
    ra: np.ndarray,
    dec: np.ndarray,
    times_unix: np.ndarray,
    latitude: float,
    longitude: float,
) -> np.ndarray:
    """Plane-parallel-corrected airmass (Pickering 2002) of ICRS positions at given times.

    Positions in degrees, times in seconds since the epoch (UTC), site in degrees (east
    positive). NaN where a value is missing or the object is below the horizon.
    """
    ra, dec, t = (np.asarray(v, float) for v in (ra, dec, times_unix))
    days = t / 86400.0 + 2440587.5 - 2451545.0
    gmst = (280.46061837 + 360.98564736629 * days) % 360.0
    hour_angle = np.radians(gmst + longitude - ra)
    lat, d = np.radians(latitude), np.radians(dec)
    sin_alt = np.sin(lat) * np.sin(d) + np.cos(lat) * np.cos(d) * np.cos(hour_angle)
    alt = np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))
    with np.errstate(invalid="ignore"):
        value = 1.0 / np.sin(np.radians(alt + 244.0 / (165.0 + 47.0 * alt**1.1)))
    return np.where(alt > 0, value, np.nan)
