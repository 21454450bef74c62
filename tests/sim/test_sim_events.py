"""Clouds, satellite trails, cosmic rays and trailing show up in the pixels where (and only
where) the ground truth says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sep
from astropy.io import fits
from scipy.spatial import cKDTree

from september.sim import SimulationResult, read_truth, simulate
from september.sim.render import make_wcs
from september.sim.sky import stars_in_cone
from september.sim.truth import FrameTruth


@pytest.fixture(scope="module")
def cloudy(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("cloudy")
    overrides = {"satellite_probability": 0.4, "trail_probability": 0.2}
    return simulate(
        "cloudy-night", out, seed=2, frames=30, calibration_frames=1, overrides=overrides
    )


def _detect(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    data = fits.getdata(path).astype(np.float32)
    bkg = sep.Background(data)
    objects = sep.extract(data - bkg, 5.0, err=bkg.globalrms, minarea=3)
    return objects, data, bkg.globalrms


def _limiting_mag(root: Path, frame: FrameTruth) -> tuple[int, float]:
    """Detected stars and the faintest 0.5-mag bin where half the true stars are found."""
    objects, _, _ = _detect(root / frame.path)
    assert frame.ra is not None and frame.dec is not None and frame.pixel_scale is not None
    wcs = make_wcs(frame.ra, frame.dec, frame.rotation or 0, frame.pixel_scale,
                   (frame.height, frame.width))  # fmt: skip
    stars = stars_in_cone(frame.ra, frame.dec, 1.3, 2026.9)
    x, y = wcs.wcs_world2pix(stars["ra"], stars["dec"], 0)
    inside = (x > 5) & (x < frame.width - 5) & (y > 5) & (y < frame.height - 5)
    x, y, mag = x[inside], y[inside], stars["mag"][inside]
    if len(objects) == 0:
        return 0, 0.0
    found = cKDTree(np.c_[objects["x"], objects["y"]]).query(np.c_[x, y])[0] < 1.5
    limit = 0.0
    for lo in np.arange(6.0, 17.0, 0.5):
        sel = (mag >= lo) & (mag < lo + 0.5)
        if sel.sum() >= 5 and found[sel].mean() >= 0.5:
            limit = lo + 0.5
    return len(objects), limit


def test_star_count_and_depth_fall_with_transparency(cloudy: SimulationResult) -> None:
    lights = [f for f in cloudy.lights if not f.trailed and not f.satellite]
    results = [(f.transparency, *_limiting_mag(cloudy.out_dir, f)) for f in lights]
    trans, counts, limits = (np.array(v) for v in zip(*results, strict=True))
    clear, thick = trans > 0.8, trans < 0.3
    assert clear.any() and thick.any()
    print(
        f"clear: {np.median(counts[clear]):.0f} stars to G {np.median(limits[clear]):.1f}; "
        f"thick cloud: {np.median(counts[thick]):.0f} stars to G {np.median(limits[thick]):.1f}"
    )
    assert np.median(counts[thick]) < 0.5 * np.median(counts[clear])
    assert np.median(limits[thick]) <= np.median(limits[clear]) - 1.0
    order = np.argsort(trans)
    rank_corr = np.corrcoef(np.argsort(order), np.argsort(np.argsort(counts)))[0, 1]
    assert rank_corr > 0.8


def test_satellite_trails_where_truth_says(cloudy: SimulationResult) -> None:
    with_trail = [f for f in cloudy.lights if f.satellite and f.transparency > 0.3]
    without = [f for f in cloudy.lights if not f.satellite and f.transparency > 0.3]
    assert with_trail and without

    def significance(data: np.ndarray, segment: list[float]) -> float:
        """Excess of the upper quartile along a segment over that of pixels 6 px beside it,
        in standard errors (the quartile also catches an aircraft's blinking dashes)."""
        x0, y0, x1, y1 = segment
        h, w = data.shape
        t = np.linspace(0.05, 0.95, 200)
        xs, ys = np.rint(x0 + t * (x1 - x0)).astype(int), np.rint(y0 + t * (y1 - y0)).astype(int)
        nx, ny = -(y1 - y0), x1 - x0
        ox = int(np.rint(6 * nx / np.hypot(nx, ny)))
        oy = int(np.rint(6 * ny / np.hypot(nx, ny)))
        side = data[np.clip(ys + oy, 0, h - 1), np.clip(xs + ox, 0, w - 1)]
        spread = 1.4826 * np.median(np.abs(side - np.median(side)))
        excess = np.percentile(data[ys, xs], 75) - np.percentile(side, 75)
        return float(excess / (spread * 1.4 * 0.1))

    for frame in with_trail:
        data = fits.getdata(cloudy.out_dir / frame.path).astype(np.float32)
        assert max(significance(data, s) for s in frame.trail_segments) > 5, frame.path
    # the same check finds nothing on a frame without a satellite (a line from another frame)
    data = fits.getdata(cloudy.out_dir / without[0].path).astype(np.float32)
    assert significance(data, with_trail[0].trail_segments[0]) < 5


def test_cosmic_rays_where_truth_says(crab_small: SimulationResult) -> None:
    hits = total = 0
    for frame in read_truth(crab_small.out_dir).lights:
        data = fits.getdata(crab_small.out_dir / frame.path).astype(np.float32)
        noise = np.sqrt((frame.sky_level_e or 0) + frame.read_noise_e**2) / frame.egain
        for x, y in frame.cosmic_rays:
            xi, yi = int(x), int(y)
            ring = data[max(yi - 1, 0) : yi + 2, max(xi - 1, 0) : xi + 2].ravel()
            total += 1
            hits += data[yi, xi] - np.median(ring) > 4 * noise
    print(f"{hits} of {total} cosmic rays stand out at their true pixels")
    assert total > 0 and hits / total >= 0.9


def test_trailed_frames_have_elongated_stars(cloudy: SimulationResult) -> None:
    def elongation(frame: FrameTruth) -> float:
        objects, _, _ = _detect(cloudy.out_dir / frame.path)
        bright = objects[np.argsort(objects["flux"])[::-1][:50]]
        return float(np.median(bright["a"] / bright["b"]))

    clear = [f for f in cloudy.lights if f.transparency > 0.5]
    trailed = [f for f in clear if f.trailed]
    steady = [f for f in clear if not f.trailed][:3]
    assert trailed and steady
    assert min(elongation(f) for f in trailed) > 1.5
    assert max(elongation(f) for f in steady) < 1.3
