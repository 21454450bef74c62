"""Exact spherical footprint test against the TAN projection (edges are great circles)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from september.astrometry.footprint import footprint_contains
from september.astrometry.solve import solution_from_wcs
from tests.astrometry.skyfield import tan_wcs

W, H = 800, 600


def _agree_with_projection(ra0: float, dec0: float, rotation: float, flipped: bool) -> None:
    """Inside the footprint <=> the TAN projection puts the point inside the pixel grid."""
    wcs = tan_wcs(ra0, dec0, 20.0, rotation, W, H, flipped=flipped)
    corners = solution_from_wcs(wcs, W, H).corners
    rng = np.random.default_rng(abs(int(ra0 * 10 + dec0 * 100)))
    # random points in a cap of 6 deg around the centre (the field is 4.4 x 3.3 deg)
    dirs = rng.uniform(0, 2 * np.pi, 20000)
    dist = np.degrees(np.arccos(rng.uniform(np.cos(np.radians(6)), 1, 20000)))
    points = SkyCoord(ra0, dec0, unit="deg").directional_offset_by(dirs * u.rad, dist * u.deg)
    ra, dec = points.ra.deg, points.dec.deg
    x, y = wcs.all_world2pix(ra, dec, 0)
    truth = (x >= -0.5) & (x <= W - 0.5) & (y >= -0.5) & (y <= H - 0.5)
    margin = np.minimum.reduce([x + 0.5, W - 0.5 - x, y + 0.5, H - 0.5 - y])
    clear = np.abs(margin) > 1e-6  # avoid points exactly on an edge
    got = footprint_contains(corners, ra, dec)
    assert truth.sum() > 1000
    assert np.array_equal(got[clear], truth[clear])


@pytest.mark.parametrize(
    ("ra", "dec", "rotation", "flipped"),
    [
        (83.6, 22.0, 30.0, False),
        (0.3, 10.0, 0.0, False),  # straddles RA 0/360
        (359.9, -40.0, 75.0, True),
        (120.0, 88.8, 10.0, False),  # the pole is inside the field
        (300.0, -89.0, 250.0, True),
    ],
)
def test_agrees_with_tan_projection(ra: float, dec: float, rotation: float, flipped: bool) -> None:
    _agree_with_projection(ra, dec, rotation, flipped)


def test_ra_wrap_points() -> None:
    corners = [(359.0, -1.0), (1.0, -1.0), (1.0, 1.0), (359.0, 1.0)]
    assert footprint_contains(corners, 0.0, 0.0)
    assert footprint_contains(corners, 359.5, 0.5)
    assert footprint_contains(corners, 0.5, -0.5)
    assert not footprint_contains(corners, 180.0, 0.0)  # antipode
    assert not footprint_contains(corners, 2.0, 0.0)
    assert not footprint_contains(corners, 358.0, 0.0)
    got = footprint_contains(corners, np.array([0.0, 2.0, 359.9]), np.array([0.0, 0.0, 0.9]))
    assert got.tolist() == [True, False, True]


def test_pole_inside() -> None:
    corners = [(0.0, 88.0), (90.0, 88.0), (180.0, 88.0), (270.0, 88.0)]
    assert footprint_contains(corners, 123.0, 90.0)
    assert footprint_contains(corners, 45.0, 89.0)
    assert not footprint_contains(corners, 45.0, 87.0)
    # the great-circle edge between two corners at dec 88 passes the pole at dec 88.585
    assert not footprint_contains(corners, 45.0, 88.55)
    assert footprint_contains(corners, 45.0, 88.62)
    assert footprint_contains(corners, 1.0, 88.1)
