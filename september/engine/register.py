"""Registration of frames onto a reference: star matching or plate solutions, then resampling.

Two independent first guesses of the transform (frame pixel -> reference pixel) are made:
asterism matching of the brightest stars (astroalign: triangle invariants in a KD-tree and a
RANSAC similarity fit) and, when both frames carry a plate solution, the composition of the two
WCS (sky -> reference pixel of frame pixel), fitted as an affine transform on a grid. Each guess is
then refined the same way: every star of the frame is mapped, paired with the nearest reference star
within a small radius, and an affine transform is fitted to the windowed centroids by least squares
with outlier clipping. The guess whose refined fit leaves the smaller residual (RMS over the
matched stars) is kept. Resampling uses a Lanczos-4 kernel by default (cubic and bilinear on
request) in float32; pixels the frame does not cover become NaN, which integration ignores.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
import sep
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from scipy.spatial import cKDTree

from september.stars.detect import prepare

__all__ = [
    "INTERPOLATIONS",
    "Alignment",
    "RegistrationError",
    "align",
    "detect_stars",
    "star_guess",
    "warp",
    "wcs_guess",
]

DETECT_SIGMA = 5.0  # detection threshold in background rms
MAX_STARS = 300  # stars kept per frame for refinement (brightest first)
BIN_ABOVE = 6_000_000  # pixels: larger frames are searched for stars 2x2-binned
CONTROL_STARS = 50  # brightest stars handed to the asterism matcher
MATCH_RADIUS = 2.0  # px: a mapped star and a reference star closer than this are a pair
CLIP_SIGMA = 3.0  # residual outliers rejected in the refinement fit
MIN_PAIRS = 6


class RegistrationError(ValueError):
    """A frame could not be registered onto the reference."""


@dataclass(frozen=True)
class Alignment:
    """An affine transform taking frame pixels to reference pixels, and how good it is."""

    matrix: np.ndarray  # 2 x 3: [x', y'] = M @ [x, y, 1]
    method: str  # 'stars' or 'wcs'
    rms: float  # px: RMS residual of the matched stars after refinement
    pairs: int  # matched stars used in the fit

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Map (N, 2) frame positions to reference positions."""
        return xy @ self.matrix[:, :2].T + self.matrix[:, 2]


def detect_stars(data: np.ndarray, *, max_stars: int = MAX_STARS) -> np.ndarray:
    """(N, 2) windowed centroids (x, y) of the brightest stars, brightest first."""
    image, _ = prepare(data, copy=False)
    # large frames are searched 2x2-binned (4x faster); centroids are then refined at full size
    binning = 2 if image.size > BIN_ABOVE else 1
    search = image
    if binning > 1:
        h, w = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
        search = cv2.resize(image[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    background = sep.Background(search)
    subtracted = search - background.back()
    sep.set_extract_pixstack(max(300_000, search.size // 10))
    # the 2x2 binning already smooths like sep's matched filter, so a binned frame skips it
    kernel = {"filter_kernel": None} if binning > 1 else {}
    objects = sep.extract(subtracted, DETECT_SIGMA, err=background.globalrms, minarea=5, **kernel)
    if len(objects) == 0:
        return np.empty((0, 2))
    objects = objects[objects["flag"] == 0] if (objects["flag"] == 0).sum() >= 10 else objects
    objects = objects[np.argsort(objects["flux"])[::-1][:max_stars]]
    if binning > 1:
        objects["x"] = objects["x"] * 2 + 0.5
        objects["y"] = objects["y"] * 2 + 0.5
        objects["a"] *= 2
        objects["b"] *= 2
        back = cv2.resize(background.back(), (w, h), interpolation=cv2.INTER_LINEAR)
        subtracted = image.copy()
        subtracted[:h, :w] -= back
        subtracted[h:, :] -= float(np.median(back))
        subtracted[:, w:] -= float(np.median(back))
    fwhm = 2.0 * np.sqrt(np.log(2.0) * (objects["a"] ** 2 + objects["b"] ** 2))
    sig = np.clip(np.median(fwhm) / 2.3548, 0.5, 10.0) * np.ones(len(objects))
    x, y, flags = sep.winpos(subtracted, objects["x"], objects["y"], sig)
    good = (flags == 0) & np.isfinite(x) & np.isfinite(y)
    x = np.where(good, x, objects["x"])
    y = np.where(good, y, objects["y"])
    return np.column_stack([x, y])


def star_guess(stars: np.ndarray, reference: np.ndarray) -> np.ndarray | None:
    """Similarity transform from asterism matching, or None when no asterism matches."""
    import astroalign

    if len(stars) < 3 or len(reference) < 3:
        return None
    try:
        transform, _ = astroalign.find_transform(stars[:CONTROL_STARS], reference[:CONTROL_STARS])
    except (astroalign.MaxIterError, ValueError, TypeError):
        return None
    return np.asarray(transform.params[:2], float)


def wcs_guess(header: str, reference_header: str, shape: tuple[int, int]) -> np.ndarray:
    """Affine transform through the sky: frame pixel -> (RA, Dec) -> reference pixel."""
    frame_wcs = _wcs(header)
    reference_wcs = _wcs(reference_header)
    height, width = shape
    gx, gy = np.meshgrid(np.linspace(0, width - 1, 9), np.linspace(0, height - 1, 9))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    world = frame_wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
    rx, ry = reference_wcs.world_to_pixel_values(*world)
    return _fit_affine(xy, np.column_stack([rx, ry]))


def _wcs(header: str) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(fits.Header.fromstring(header, sep="\n" if "\n" in header else ""))


def _fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = np.column_stack([source, np.ones(len(source))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution.T


def refine(
    matrix: np.ndarray, stars: np.ndarray, reference: np.ndarray, method: str
) -> Alignment | None:
    """Refit ``matrix`` on all stars paired within MATCH_RADIUS; None if too few pairs."""
    tree = cKDTree(reference)
    radius = MATCH_RADIUS * 2
    for _ in range(4):
        mapped = stars @ matrix[:, :2].T + matrix[:, 2]
        distance, index = tree.query(mapped, distance_upper_bound=radius)
        paired = np.isfinite(distance)
        if paired.sum() < MIN_PAIRS:
            return None
        source, target = stars[paired], reference[index[paired]]
        keep = np.ones(len(source), bool)
        for _ in range(3):
            matrix = _fit_affine(source[keep], target[keep])
            residual = np.hypot(*(source @ matrix[:, :2].T + matrix[:, 2] - target).T)
            rms = np.sqrt(np.mean(residual[keep] ** 2))
            new_keep = residual < max(CLIP_SIGMA * rms, 0.05)
            if new_keep.sum() < MIN_PAIRS or np.array_equal(new_keep, keep):
                break
            keep = new_keep
        radius = MATCH_RADIUS
    return Alignment(matrix, method, float(rms), int(keep.sum()))


def align(
    stars: np.ndarray,
    reference: np.ndarray,
    *,
    wcs_header: str | None = None,
    reference_wcs_header: str | None = None,
    shape: tuple[int, int] | None = None,
) -> Alignment:
    """The better of star-matching and plate-solution registration, refined on centroids."""
    candidates: list[Alignment] = []
    guess = star_guess(stars, reference)
    if guess is not None:
        refined = refine(guess, stars, reference, "stars")
        if refined is not None:
            candidates.append(refined)
    if wcs_header and reference_wcs_header and shape is not None:
        guess = wcs_guess(wcs_header, reference_wcs_header, shape)
        refined = refine(guess, stars, reference, "wcs") if len(stars) >= MIN_PAIRS else None
        candidates.append(refined or Alignment(guess, "wcs", float("nan"), 0))
    if not candidates:
        raise RegistrationError(
            f"no transform found ({len(stars)} stars in the frame, {len(reference)} in the "
            "reference, no plate solution): the frame may be cloudy, trailed or off target"
        )
    return min(candidates, key=lambda c: (not np.isfinite(c.rms), c.rms))


INTERPOLATIONS = {
    "lanczos4": cv2.INTER_LANCZOS4,
    "cubic": cv2.INTER_CUBIC,
    "linear": cv2.INTER_LINEAR,
}
"""Resampling kernels, sharpest first: a smoother kernel averages neighbouring pixels' noise
(higher aperture SNR on the stack) at the price of broader stars."""


def warp(
    data: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], interpolation: str = "lanczos4"
) -> np.ndarray:
    """Resample a frame onto the reference grid (float32, NaN where not covered).

    Outside the frame reads as NaN, and a NaN under any tap of the kernel (8 x 8 for Lanczos-4)
    makes the output pixel NaN: exactly the pixels without full data become NaN, in one pass.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"unknown interpolation {interpolation!r}; use one of {list(INTERPOLATIONS)}"
        )
    height, width = shape
    return cv2.warpAffine(
        np.asarray(data, np.float32),
        matrix.astype(np.float64),
        (width, height),
        flags=INTERPOLATIONS[interpolation],
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float("nan"),
    )
