"""Enhancement keeps stars round, unclipped and of the same colour; bad input is refused."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from september.engine.enhance import EnhanceOptions, enhance, load_linear_tiff, write_tiff16
from september.errors import BadFrameError
from tests.engine.synthetic import render, star_catalogue

SHAPE = (400, 600)
NOISE = 3.0
FWHM = 4.0


def _field(ellipticity: float = 0.0):
    """A linear 16-bit RGB stack: coloured stars on a sky with a gradient, plus the truth."""
    rng = np.random.default_rng(8)
    stars = star_catalogue(rng, SHAPE, count=220, margin=12)
    stars[:, 2] *= 3.0
    colours = rng.uniform(0.5, 1.3, (len(stars), 3))
    colours[:, 1] = 1.0
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    gradient = 400.0 + 1.5 * xx + 0.8 * yy  # light pollution
    channels = []
    for c in range(3):
        coloured = stars.copy()
        coloured[:, 2] *= colours[:, c]
        image = render(coloured, SHAPE, fwhm=FWHM, sky=0.0, ellipticity=ellipticity) + gradient
        channels.append(image + rng.normal(0, NOISE, SHAPE))
    rgb = np.clip(np.stack(channels, axis=-1), 0, 65535)
    return rgb.astype(np.uint16), stars, colours


@pytest.fixture(scope="module")
def linear():
    """Round stars."""
    return _field()


@pytest.fixture(scope="module")
def trailed():
    """The same field with stars elongated along x (axis ratio 0.8, eccentricity 0.6)."""
    return _field(ellipticity=0.2)


def _moments(image: np.ndarray, x: float, y: float, r: int = 8, weight: float = 2.5):
    """Eccentricity of a star: second moments under a fixed round Gaussian weight.

    A round weight (re-centred on the star) keeps the measure well conditioned on stretched
    stars, whose flattened profiles would otherwise fill any box.
    """
    ix, iy = round(x), round(y)
    box = image[iy - r : iy + r + 1, ix - r : ix + r + 1].astype(float)
    gy, gx = np.mgrid[-r : r + 1, -r : r + 1].astype(float)
    edge = np.maximum(np.abs(gx), np.abs(gy)) >= r - 1  # a plane through the box's border: a
    design = np.column_stack([np.ones(edge.sum()), gx[edge], gy[edge]])  # sky gradient left in
    plane, *_ = np.linalg.lstsq(design, box[edge], rcond=None)  # would read as elongation
    box = box - (plane[0] + plane[1] * gx + plane[2] * gy)
    mx, my = x - ix, y - iy
    for _ in range(10):
        w = box * np.exp(-0.5 * ((gx - mx) ** 2 + (gy - my) ** 2) / weight**2)
        total = w.sum()
        mx, my = (w * gx).sum() / total, (w * gy).sum() / total
    dx, dy = gx - mx, gy - my
    sxx, syy, sxy = ((w * v).sum() / total for v in (dx * dx, dy * dy, dx * dy))
    root = np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    major, minor = (sxx + syy) / 2 + root, (sxx + syy) / 2 - root
    return np.sqrt(max(0.0, 1 - minor / major))


def _shape(image: np.ndarray, x: float, y: float, r: int = 8) -> tuple[float, float]:
    """Eccentricity and FWHM (px) from adaptive moments, above a sky plane fitted to the border.

    The elliptical Gaussian weight is iterated to the fixed point weight covariance = 1.5 x weighted
    covariance, i.e. half the star's own covariance for a Gaussian star: the weight follows the
    star's shape, so any profile with elliptical isophotes -- a Gaussian, or the same star after a
    pointwise stretch -- gives its true axis ratio, and the small weight keeps the noise of a
    stretched star's lifted wings out. The FWHM is that of the Gaussian with these moments
    (covariance = 2 x weight covariance; geometric mean of the axes).
    """
    ix, iy = round(x), round(y)
    box = image[iy - r : iy + r + 1, ix - r : ix + r + 1].astype(float)
    gy, gx = np.mgrid[-r : r + 1, -r : r + 1].astype(float)
    edge = np.maximum(np.abs(gx), np.abs(gy)) >= r - 1
    design = np.column_stack([np.ones(edge.sum()), gx[edge], gy[edge]])
    plane, *_ = np.linalg.lstsq(design, box[edge], rcond=None)
    box = box - (plane[0] + plane[1] * gx + plane[2] * gy)
    mx, my = x - ix, y - iy
    cov = np.eye(2) * 0.5 * (FWHM / 2.3548) ** 2
    for _ in range(50):
        inv = np.linalg.inv(cov)
        dx, dy = gx - mx, gy - my
        w = box * np.exp(-0.5 * (inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2))
        total = w.sum()
        mx, my = (w * gx).sum() / total, (w * gy).sum() / total
        dx, dy = gx - mx, gy - my
        moments = np.array([[(w * dx * dx).sum(), (w * dx * dy).sum()], [0, (w * dy * dy).sum()]])
        moments[1, 0] = moments[0, 1]
        cov, previous = 0.5 * (1.5 * moments / total + cov), cov  # damped
        if np.abs(cov - previous).max() < 1e-7:
            break
    minor, major = np.linalg.eigvalsh(cov)
    return float(np.sqrt(1 - minor / major)), float(2.3548 * (4 * minor * major) ** 0.25)


def _core_flux(image: np.ndarray, x: float, y: float) -> float:
    """Light within 2 px of the star's true centre above the sky of an annulus at 10-13 px."""
    ix, iy = round(x), round(y)
    box = image[iy - 13 : iy + 14, ix - 13 : ix + 14].astype(float)
    gy, gx = np.mgrid[-13:14, -13:14]
    r = np.hypot(gx + ix - x, gy + iy - y)
    sky = np.median(box[(r >= 10) & (r <= 13)])
    return float((box[r <= 2.0] - sky).sum())


def _isolated(stars: np.ndarray, lo: float, hi: float) -> np.ndarray:
    from scipy.spatial import cKDTree

    distance, _ = cKDTree(stars[:, :2]).query(stars[:, :2], k=2)
    inside = (
        (stars[:, 0] > 15)
        & (stars[:, 0] < SHAPE[1] - 15)
        & (stars[:, 1] > 15)
        & (stars[:, 1] < SHAPE[0] - 15)
    )
    return np.flatnonzero(inside & (distance[:, 1] > 18) & (stars[:, 2] > lo) & (stars[:, 2] < hi))


@pytest.fixture(scope="module")
def enhanced(linear):
    rgb16, _, _ = linear
    return enhance(rgb16.astype(np.float32) / 65535.0)


def test_stars_stay_round(linear, enhanced):
    rgb16, stars, _ = linear
    before = rgb16.astype(float).sum(axis=2)
    after = enhanced.image.sum(axis=2)
    e0, e1 = [], []
    for i in _isolated(stars, 2000, 1e9):
        e0.append(_moments(before, *stars[i, :2]))
        e1.append(_moments(after, *stars[i, :2]))
    e0, e1 = np.array(e0), np.array(e1)
    assert len(e0) >= 20
    # Per star, the eccentricity of a ROUND star is noise: e = sqrt(1 - minor/major) turns an axis
    # ratio of 0.999 into e = 0.045, and between two noise realisations of the LINEAR image the
    # same star's measured e differs by up to 0.17 (flux >= 2000; median 0.03) and still 0.06 for
    # flux >= 8000. So here the typical star changes by less than 0.05 and the population's median
    # by less than 0.02; per-star bounds are in the two tests below, where e is well conditioned.
    assert np.median(np.abs(e1 - e0)) < 0.05
    assert abs(np.median(e1) - np.median(e0)) < 0.02


def test_boost_and_sharpening_keep_each_round_star_round(linear):
    # with the stretch made linear the same noise is in both images and the boost and sharpening
    # show alone: every isolated star changes by < 0.05 (measured max 0.027; 0.027-0.040 over 8
    # noise realisations; the former noise-shaped mask and dilated peak gain: 0.10)
    rgb16, stars, _ = linear
    before = rgb16.astype(float).sum(axis=2)
    after = enhance(rgb16.astype(np.float32) / 65535.0, EnhanceOptions(stretch=1e-4)).image
    after = after.sum(axis=2)
    idx = _isolated(stars, 2000, 1e9)
    change = [abs(_moments(after, *s[:2]) - _moments(before, *s[:2])) for s in stars[idx]]
    assert len(change) >= 20
    assert max(change) < 0.05


def test_trailed_stars_keep_their_eccentricity(trailed):
    # Stars elongated along x (true e = 0.6): well conditioned, so each star is held to < 0.05 on
    # the finished, stretched image. Repeatability of a star's e on the enhanced image over 8 noise
    # realisations (sd): 0.014 median, 0.019 worst for flux 2000-3000; 0.011 and 0.014 for flux
    # 3000-5000; 0.006 and 0.010 above -- so the flux >= 3000 stars are held per star (3.5 sd of
    # margin) and all isolated stars >= 2000 to < 0.08 (4 sd) with a median change < 0.02.
    rgb16, stars, _ = trailed
    before = rgb16.astype(float).sum(axis=2)
    after = enhance(rgb16.astype(np.float32) / 65535.0).image.sum(axis=2)
    idx = _isolated(stars, 2000, 1e9)
    e0 = np.array([_shape(before, *s[:2])[0] for s in stars[idx]])
    e1 = np.array([_shape(after, *s[:2])[0] for s in stars[idx]])
    change = np.abs(e1 - e0)
    assert len(idx) >= 30
    assert abs(np.median(e0) - 0.6) < 0.01  # the measure is right on the linear image
    assert change[stars[idx, 2] >= 3000].max() < 0.05
    assert change.max() < 0.08
    assert np.median(change) < 0.02


def test_boosted_stars_are_not_bloated(linear):
    # The boost is one gain per star, constant over the star, so it must not widen it. With the
    # stretch made linear, every isolated star's FWHM grows < 5% over the linear image (measured
    # -1.3% at most: the sharpening narrows it; the former dilated peak gain: +13% on bright
    # stars). The asinh stretch itself widens the visible star (+43% median here): against the
    # stretch alone, boost and sharpening add < 5% (measured +2.2% faint, +0.7% bright).
    rgb16, stars, _ = linear
    rgb = rgb16.astype(np.float32) / 65535.0
    idx = _isolated(stars, 2000, 1e9)
    lin = rgb16.astype(float).sum(axis=2)
    flat = enhance(rgb, EnhanceOptions(stretch=1e-4)).image.sum(axis=2)
    plain = enhance(rgb, EnhanceOptions(star_boost=0.0, sharpen=0.0)).image.sum(axis=2)
    final = enhance(rgb).image.sum(axis=2)
    fwhm = np.array(
        [[_shape(im, *s[:2])[1] for im in (lin, flat, plain, final)] for s in stars[idx]]
    )
    assert abs(np.median(fwhm[:, 0]) - FWHM) < 0.1  # the measure is right on the linear image
    assert (fwhm[:, 1] / fwhm[:, 0]).max() < 1.05
    assert (fwhm[:, 3] / fwhm[:, 2]).max() < 1.05


def test_unsaturated_cores_are_not_clipped(linear, enhanced):
    rgb16, stars, _ = linear
    out16 = np.round(enhanced.image * 65535).astype(np.uint16)
    assert rgb16.max() < 65535  # nothing saturated in the input
    assert out16.max() < 65535
    for i in _isolated(stars, 20000, 1e9):
        ix, iy = round(stars[i, 0]), round(stars[i, 1])
        core = out16[iy - 1 : iy + 2, ix - 1 : ix + 2].max(axis=2)
        top = np.sort(core.ravel())
        assert top[-1] > top[-2]  # a peak, not a flat clipped top


def test_star_colours_are_kept(linear, enhanced):
    rgb16, stars, _colours = linear
    changes = []
    for i in _isolated(stars, 3000, 1e9):
        before = [_core_flux(rgb16[..., c], *stars[i, :2]) for c in range(3)]
        after = [_core_flux(enhanced.image[..., c], *stars[i, :2]) for c in range(3)]
        for c in (0, 2):
            changes.append(abs((after[c] / after[1]) / (before[c] / before[1]) - 1))
    assert len(changes) >= 30
    assert np.max(changes) < 0.05


def test_faint_stars_are_boosted_more_than_bright_ones(linear):
    rgb16, stars, _ = linear
    rgb = rgb16.astype(np.float32) / 65535.0
    plain = enhance(rgb, EnhanceOptions(star_boost=0.0, sharpen=0.0)).image.sum(axis=2)
    boosted = enhance(rgb, EnhanceOptions(star_boost=1.5, sharpen=0.0)).image.sum(axis=2)
    faint = _isolated(stars, 1000, 3000)
    bright = _isolated(stars, 10000, 1e9)

    def ratio(idx: np.ndarray) -> float:
        return float(
            np.median([_core_flux(boosted, *s[:2]) / _core_flux(plain, *s[:2]) for s in stars[idx]])
        )

    assert ratio(faint) > ratio(bright) * 1.1


def test_background_gradient_is_removed(enhanced):
    sky = np.where(enhanced.mask < 0.05, enhanced.image.mean(axis=2), np.nan)
    blocks = np.nanmedian(sky.reshape(8, 50, 12, 50).swapaxes(1, 2).reshape(8, 12, -1), axis=2)
    assert np.nanmax(blocks) - np.nanmin(blocks) < 0.02  # 1300 ADU across the linear frame


def test_refuses_8_bit_and_stretched_input(tmp_path, linear, enhanced):
    rgb16, _, _ = linear
    eight = tmp_path / "eight.tif"
    tifffile.imwrite(eight, (rgb16 // 257).astype(np.uint8), photometric="rgb")
    with pytest.raises(BadFrameError, match="8-bit"):
        load_linear_tiff(eight)
    stretched = write_tiff16(tmp_path / "stretched.tif", enhanced.image)
    with pytest.raises(BadFrameError, match="stretched"):
        load_linear_tiff(stretched)
    assert load_linear_tiff(stretched, assume_linear=True).shape == (*SHAPE, 3)
    linear_path = tmp_path / "Autosave.tif"
    tifffile.imwrite(linear_path, rgb16, photometric="rgb")
    assert load_linear_tiff(linear_path).dtype == np.float32
    grey = tmp_path / "grey.tif"
    tifffile.imwrite(grey, rgb16[..., 1])
    loaded = load_linear_tiff(grey)
    assert loaded.shape == (*SHAPE, 3)
    assert np.array_equal(loaded[..., 0], loaded[..., 2])
