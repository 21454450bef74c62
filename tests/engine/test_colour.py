"""Colour combination and balance on synthetic masters with known colours."""

from __future__ import annotations

import numpy as np
import pytest

from september.engine.colour import (
    balance_background,
    balance_stars,
    colour_image,
    combine_lrgb,
    luminance,
    narrowband,
)
from tests.engine.synthetic import render, star_catalogue

SHAPE = (150, 200)


@pytest.fixture(scope="module")
def field():
    rng = np.random.default_rng(9)
    stars = star_catalogue(rng, SHAPE, count=60, margin=10)
    stars[:, 2] = np.clip(stars[:, 2] * 5, 3000, 2e5)
    base = render(stars, SHAPE, sky=0.0)
    return rng, stars, base


def test_background_balance_makes_the_sky_neutral(field):
    rng, _, base = field
    rgb = np.stack([base + sky + rng.normal(0, 2, SHAPE) for sky in (300, 500, 900)], axis=-1)
    balanced = balance_background(rgb.astype(np.float32), pedestal=10.0)
    levels = np.median(balanced.reshape(-1, 3), axis=0)
    assert np.allclose(levels, 10.0, atol=1.0)


def test_star_balance_makes_the_median_star_white(field):
    rng, stars, base = field
    gains = np.array([1.0, 0.8, 0.5], np.float32)  # a camera less sensitive in green and blue
    rgb = np.stack([base * g + 100 + rng.normal(0, 2, SHAPE) for g in gains], axis=-1)
    balanced = balance_stars(rgb.astype(np.float32), stars[:, :2])
    sky = np.median(balanced.reshape(-1, 3), axis=0)
    bright = stars[stars[:, 2] > 20000][:, :2].round().astype(int)
    inside = [(x, y) for x, y in bright if 0 <= x < SHAPE[1] and 0 <= y < SHAPE[0]]
    ratios = [(balanced[y, x] - sky) / (balanced[y, x, 0] - sky[0]) for x, y in inside]
    assert np.allclose(np.median(ratios, axis=0), 1.0, atol=0.03)


def test_lrgb_takes_the_luminance_and_keeps_the_colour(field):
    rng, _, base = field
    colour = np.array([1.0, 0.7, 0.4], np.float32)
    red, green, blue = (base * c + 200 for c in colour)
    lum = base * 3.0 + 50 + rng.normal(0, 0.5, SHAPE)  # deeper luminance, another sky level
    out = combine_lrgb(lum.astype(np.float32), red, green, blue)
    star = base > 0.3 * base.max()
    ratio = out[star] / out[star][:, :1]
    assert np.allclose(np.median(ratio, axis=0), colour / colour[0], atol=0.02)
    y = luminance(out)
    bright = base > 0.1 * base.max()
    corr = np.corrcoef(y[bright], lum[bright])[0, 1]
    assert corr > 0.999


def test_narrowband_palettes_map_the_filters():
    ha, oiii, sii = (np.full((4, 4), v, np.float32) for v in (1.0, 2.0, 3.0))
    assert narrowband(ha, oiii, sii, "SHO")[0, 0].tolist() == [3.0, 1.0, 2.0]
    assert narrowband(ha, oiii, None, "HOO")[0, 0].tolist() == [1.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="SII"):
        narrowband(ha, oiii, None, "SHO")
    mono = colour_image({"L": ha})
    assert mono.shape == (4, 4, 3)
    assert colour_image({"Ha": ha, "OIII": oiii})[0, 0].tolist() == [1.0, 2.0, 2.0]
