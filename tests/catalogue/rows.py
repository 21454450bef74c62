"""Synthetic frame rows for catalogue tests: seeded random pointings with TAN footprints."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

WIDTH, HEIGHT = 600, 400


def footprint(ra: float, dec: float, scale_arcsec: float, rotation: float) -> list[float]:
    """Corners of a WIDTH x HEIGHT TAN frame, flattened [ra0, dec0, ..., ra3, dec3]."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(WIDTH + 1) / 2, (HEIGHT + 1) / 2]
    theta = np.radians(rotation)
    s = scale_arcsec / 3600.0
    wcs.wcs.cd = [[-s * np.cos(theta), s * np.sin(theta)], [s * np.sin(theta), s * np.cos(theta)]]
    x = np.array([-0.5, WIDTH - 0.5, WIDTH - 0.5, -0.5])
    y = np.array([-0.5, -0.5, HEIGHT - 0.5, HEIGHT - 0.5])
    cra, cdec = wcs.all_pix2world(x, y, 0)
    return [float(v) for pair in zip(cra, cdec, strict=True) for v in pair]


def make_row(index: int, ra: float | None, dec: float | None, **overrides: Any) -> dict[str, Any]:
    """Column values of one frame row (a light when ra/dec are given, else a bias)."""
    sha = hashlib.sha256(f"frame-{index}".encode()).hexdigest()
    row: dict[str, Any] = {
        "path": f"/share/night/frame_{index:05d}.fits",
        "size": 1000 + index,
        "mtime": 1_700_000_000.0 + index,
        "sha256": sha,
        "frame_type": "light" if ra is not None else "bias",
        "object": "M1" if index % 2 else "NGC 1952",
        "filter": "L" if index % 3 else "Ha",
        "exposure": 60.0,
        "date_obs": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=index),
        "width": WIDTH,
        "height": HEIGHT,
        "extras": {"AIRMASS": 1.2},
        "solve_status": "skipped",
    }
    if ra is not None:
        scale = 20.0
        corners = footprint(ra, dec, scale, rotation=(index * 37) % 360)
        centre = SkyCoord(ra, dec, unit="deg")
        far = SkyCoord(corners[0::2], corners[1::2], unit="deg")
        row.update(
            ra=ra,
            dec=dec,
            solve_status="solved",
            pixel_scale=scale,
            width_deg=WIDTH * scale / 3600,
            height_deg=HEIGHT * scale / 3600,
            radius_deg=float(centre.separation(far).deg.max()),
            corners=corners,
        )
    row.update(overrides)
    return row


def random_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Lights scattered around the Crab (some across RA 0 and near the pole) plus a few biases."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(count):
        kind = index % 10
        if kind == 0:
            rows.append(make_row(index, None, None))
            continue
        if kind == 1:
            ra, dec = rng.uniform(-4, 4) % 360, rng.uniform(-5, 5)
        elif kind == 2:
            ra, dec = rng.uniform(0, 360), rng.uniform(84, 89.5)
        else:
            ra, dec = 83.6 + rng.normal(0, 4), 22 + rng.normal(0, 4)
        rows.append(make_row(index, float(ra), float(dec)))
    return rows
