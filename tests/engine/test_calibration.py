"""Masters, calibration and cosmetic correction against known synthetic ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from september.engine.calibrate import calibrate_light
from september.engine.cosmetic import cosmetic_correction, dark_defects
from september.engine.masters import (
    master_bias,
    master_dark,
    master_flat,
    read_master,
    write_master,
)

SHAPE = (240, 320)
BIAS = 300.0
DARK_RATE = 0.5  # ADU per second
READ_NOISE = 5.0


@pytest.fixture(scope="module")
def rig():
    """Vignetting, a fixed bias pattern, dark current with hot pixels, and noisy frames."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    r2 = ((xx - SHAPE[1] / 2) ** 2 + (yy - SHAPE[0] / 2) ** 2) / (SHAPE[1] / 2) ** 2
    vignetting = (1.0 - 0.35 * r2) * (1.0 + 0.02 * rng.standard_normal(SHAPE))  # + pixel response
    bias_pattern = BIAS + 3.0 * np.sin(xx / 7.0)
    dark_rate = np.full(SHAPE, DARK_RATE)
    hot = rng.choice(SHAPE[0] * SHAPE[1], 60, replace=False)
    dark_rate.flat[hot] = rng.uniform(50, 400, 60)

    def frame(signal: np.ndarray | float, exposure: float) -> np.ndarray:
        electrons = np.asarray(signal, float) + dark_rate * exposure
        noisy = rng.poisson(np.maximum(electrons, 0)) + rng.normal(0, READ_NOISE, SHAPE)
        return (bias_pattern + noisy).astype(np.float32)

    return rng, vignetting, bias_pattern, dark_rate, hot, frame


def test_master_bias_and_scaled_dark_recover_the_truth(rig, tmp_path):
    _, _, bias_pattern, dark_rate, _, frame = rig
    bias = master_bias([frame(0.0, 0.0) for _ in range(15)])
    assert np.abs(bias.data - bias_pattern).std() < 2.0  # 5 ADU read noise / sqrt(15) ~ 1.3
    dark = master_dark([frame(0.0, 120.0) for _ in range(15)], exposure=120.0, bias=bias)
    scaled = dark.data * np.float32(60.0 / 120.0)
    normal = dark_rate == DARK_RATE
    assert abs(float(np.median(scaled[normal])) - 60 * DARK_RATE) < 0.5
    path = write_master(tmp_path / "dark.fits", dark)
    again = read_master(path, "dark")
    assert again.data.dtype == np.float32
    assert again.bias_subtracted and again.exposure == 120.0 and again.count == 15


def test_flat_fielding_leaves_less_than_one_percent_vignetting(rig):
    _, vignetting, _, _, _, frame = rig
    bias = master_bias([frame(0.0, 0.0) for _ in range(15)])
    flat_dark = master_dark([frame(0.0, 2.0) for _ in range(10)], exposure=2.0, bias=bias)
    flat = master_flat(
        [
            frame(20000.0 * vignetting * s, 2.0)
            for s in (0.9, 1.0, 1.1, 0.95, 1.05, 1.0, 0.98, 1.02)
        ],
        bias=bias,
        flat_dark=flat_dark,
    )
    dark = master_dark([frame(0.0, 60.0) for _ in range(15)], exposure=60.0, bias=bias)
    sky = 3000.0
    light = frame(sky * vignetting, 60.0)
    calibrated = calibrate_light(light, exposure=60.0, bias=bias, dark=dark, flat=flat)
    corrected, _ = cosmetic_correction(calibrated, dark_map=dark_defects(dark.data))
    # residual vignetting: the large-scale profile, averaged in 16 x 16 blocks to beat the noise
    blocks = corrected.reshape(15, 16, 20, 16).mean(axis=(1, 3))
    level = np.median(blocks)
    residual = np.abs(blocks / level - 1.0).max()
    raw_blocks = (light - bias.data).reshape(15, 16, 20, 16).mean(axis=(1, 3))
    assert np.abs(raw_blocks / np.median(raw_blocks) - 1).max() > 0.2  # there was vignetting
    assert residual < 0.01


def test_hot_pixels_are_removed(rig):
    _, _, _, _dark_rate, hot, frame = rig
    bias = master_bias([frame(0.0, 0.0) for _ in range(9)])
    dark = master_dark([frame(0.0, 60.0) for _ in range(9)], exposure=60.0, bias=bias)
    defects = dark_defects(dark.data)
    assert defects.flat[hot].mean() == 1.0  # every hot pixel found in the master dark
    assert defects.sum() < len(hot) + 20  # and few false alarms
    light = frame(1000.0, 60.0)
    plain = light - bias.data  # no dark subtraction: the hot pixels stay, only cosmetics fix them
    corrected, replaced = cosmetic_correction(plain, dark_map=defects)
    assert replaced >= len(hot)
    sky = float(np.median(corrected))
    noise = float(np.std(corrected[~defects]))
    assert np.abs(corrected.flat[hot] - sky).max() < 5 * noise


def test_local_sigma_test_removes_cosmic_rays_but_keeps_stars():
    rng = np.random.default_rng(2)
    from tests.engine.synthetic import render, star_catalogue

    stars = star_catalogue(rng, SHAPE, count=80, margin=10)
    image = render(stars, SHAPE, fwhm=2.0, rng=rng)
    hits = rng.choice(SHAPE[0] * SHAPE[1], 40, replace=False)
    hit_image = image.copy()
    hit_image.flat[hits] += rng.uniform(500, 5000, 40)
    corrected, _ = cosmetic_correction(hit_image)
    on_sky = image.flat[hits] < 500.0 + 5 * 10.0  # hits on a star core are not isolated
    assert on_sky.sum() > 30
    assert np.abs(corrected.flat[hits] - image.flat[hits])[on_sky].max() < 5 * 10.0
    peaks = [(round(y), round(x)) for x, y, f in stars if f > 3000]
    peaks = [(y, x) for y, x in peaks if 0 <= y < SHAPE[0] and 0 <= x < SHAPE[1]]
    kept = [abs(corrected[p] - image[p]) < 1e-3 * image[p] + 1 for p in peaks]
    assert np.mean(kept) > 0.95
