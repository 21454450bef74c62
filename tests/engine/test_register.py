"""Registration accuracy against known transforms of a synthetic star field."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from september.engine.register import align, detect_stars, warp
from tests.engine.synthetic import render, rotation_matrix, star_catalogue

SHAPE = (400, 500)


def _truth_error(alignment, matrix: np.ndarray) -> float:
    """RMS distance (px) between the fitted and the true frame -> reference map over the frame."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    gx, gy = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 25), np.linspace(0, SHAPE[0] - 1, 20))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    error = alignment.apply(xy) - (xy @ inverse[:, :2].T + inverse[:, 2])
    return float(np.sqrt((error**2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(11)
    stars = star_catalogue(rng, SHAPE)
    reference = render(stars, SHAPE, rng=rng)
    return rng, stars, reference, detect_stars(reference)


@pytest.mark.parametrize(
    ("angle", "dx", "dy"), [(0.0, 3.37, -5.81), (1.5, 12.3, -7.6), (-4.0, -20.45, 15.2)]
)
def test_star_registration_error_below_a_tenth_of_a_pixel(field, angle, dx, dy):
    rng, stars, _, reference_stars = field
    matrix = rotation_matrix(angle, dx, dy, (SHAPE[1] / 2, SHAPE[0] / 2))
    frame = render(stars, SHAPE, matrix=matrix, rng=rng)
    alignment = align(detect_stars(frame), reference_stars)
    assert alignment.method == "stars"
    assert _truth_error(alignment, matrix) < 0.1


def _wcs_header(matrix: np.ndarray | None) -> str:
    """A TAN WCS for the reference grid, or for a frame related to it by ``matrix``."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [83.6, 22.0]
    scale = 2.0 / 3600
    cd = np.array([[-scale, 0.0], [0.0, scale]])
    crpix = np.array([250.0, 200.0])  # 0-based reference pixel of the tangent point
    if matrix is not None:  # frame pixel p = M r + t  ->  r = M^-1 (p - t)
        inverse = np.linalg.inv(matrix[:, :2])
        cd = cd @ inverse
        crpix = matrix[:, :2] @ crpix + matrix[:, 2]
    wcs.wcs.cd = cd
    wcs.wcs.crpix = crpix + 1
    return wcs.to_header().tostring(sep="\n")


def test_plate_solution_registration_is_used_and_refined(field):
    rng, stars, _, reference_stars = field
    matrix = rotation_matrix(2.0, 8.2, 4.4, (SHAPE[1] / 2, SHAPE[0] / 2))
    frame = render(stars, SHAPE, matrix=matrix, rng=rng)
    frame_stars = detect_stars(frame)
    only_wcs = align(
        frame_stars[:2],  # too few stars for asterisms: only the plate solution can work
        reference_stars,
        wcs_header=_wcs_header(matrix),
        reference_wcs_header=_wcs_header(None),
        shape=SHAPE,
    )
    assert only_wcs.method == "wcs"
    assert _truth_error(only_wcs, matrix) < 0.1
    both = align(
        frame_stars,
        reference_stars,
        wcs_header=_wcs_header(matrix),
        reference_wcs_header=_wcs_header(None),
        shape=SHAPE,
    )
    assert _truth_error(both, matrix) < 0.1
    assert both.rms < 0.2


def test_lanczos_resampling_reproduces_the_reference(field):
    rng, stars, reference, reference_stars = field
    matrix = rotation_matrix(0.0, 4.5, -3.25, (0, 0))
    frame = render(stars, SHAPE, matrix=matrix, rng=rng)
    alignment = align(detect_stars(frame), reference_stars)
    resampled = warp(frame, alignment.matrix, SHAPE)
    covered = np.isfinite(resampled)
    assert covered.mean() > 0.9
    residual = (resampled - reference)[covered]
    # two noisy frames (10 ADU each) differ by ~14 ADU rms; resampling smooths some noise
    assert residual.std() < 16.0
    assert abs(float(np.median(residual))) < 1.0


def test_smoother_kernels_trade_star_sharpness_for_noise():
    # half a pixel each way is where kernels differ most; flux is kept by all of them
    noise = np.random.default_rng(3).normal(0, 10, (200, 200)).astype(np.float32)
    star = render(np.array([[100.3, 99.8, 20000.0]]), (200, 200), fwhm=2.5, sky=0.0)
    matrix = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
    measured = {}
    for kernel in ("lanczos4", "cubic", "linear"):
        smoothed = warp(noise, matrix, (200, 200), kernel)
        moved = warp(star.astype(np.float32), matrix, (200, 200), kernel)
        assert np.nansum(moved) == pytest.approx(20000.0, rel=1e-3)
        assert np.isnan(smoothed[10:-10, 10:-10]).sum() == 0  # NaN only along the borders
        measured[kernel] = (float(np.nanstd(smoothed)), float(np.nanmax(moved)))
    # measured: noise 8.3 / 7.2 / 5.0 ADU, star peak 2634 / 2647 / 2163 ADU
    assert measured["linear"][0] < measured["cubic"][0] < measured["lanczos4"][0] < 10.0
    assert measured["lanczos4"][1] > 1.15 * measured["linear"][1]
    with pytest.raises(ValueError, match="interpolation"):
        warp(noise, matrix, (200, 200), "nearest")
