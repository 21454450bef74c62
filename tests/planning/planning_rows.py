"""Catalogue rows for planning tests: lights dithered around given pointings, with verdicts."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import astropy.units as u
import numpy as np
import sqlalchemy as sa
from astropy.coordinates import SkyCoord

from september.catalogue.progress import has_grades

FIELD = (1.9, 1.45)  # degrees, the simulated rig's field
_counter = itertools.count(1)


def dithered(ra: float, dec: float, count: int, rng: np.random.Generator, arcmin: float = 3.0):
    """``count`` pointings within ``arcmin`` of (ra, dec)."""
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    angles = rng.uniform(0, 360, count) * u.deg
    distances = rng.uniform(0, arcmin, count) * u.arcmin
    points = centre.directional_offset_by(angles, distances)
    return points.ra.deg, points.dec.deg


def insert_lights(
    connection: sa.Connection,
    ra: float,
    dec: float,
    *,
    filter_name: str,
    count: int,
    exposure: float,
    rng: np.random.Generator,
    grade: str = "accepted",
    reasons: tuple[str, ...] = (),
    solved: bool = True,
) -> None:
    """Insert ``count`` light frames dithered around (ra, dec)."""
    graded = has_grades(connection)
    ras, decs = dithered(ra, dec, count, rng)
    start = datetime(2026, 10, 1, 21, tzinfo=UTC)
    for r, d in zip(ras, decs, strict=True):
        n = next(_counter)
        row: dict[str, Any] = {
            "path": f"/share/2026-10-01/light_{n:06d}.fits",
            "size": 20_000_000 + n,
            "mtime": 1_790_000_000.0 + n,
            "sha256": hashlib.sha256(f"planning-{n}".encode()).hexdigest(),
            "frame_type": "light",
            "object": "test",
            "filter": filter_name,
            "exposure": exposure,
            "date_obs": start + timedelta(seconds=n * (exposure + 10)),
            "width": 4656,
            "height": 3520,
            "header_ra": float(r),
            "header_dec": float(d),
            "solve_status": "solved" if solved else "failed",
            "solve_reason": None if solved else "no-match",
        }
        if solved:
            row.update(
                ra=float(r),
                dec=float(d),
                pixel_scale=1.48,
                rotation=0.0,
                width_deg=FIELD[0],
                height_deg=FIELD[1],
                radius_deg=1.2,
            )
        if graded and solved:
            row["grade"] = grade
            row["grade_reasons"] = list(reasons) if reasons else None
        columns = ", ".join(row)
        values = ", ".join(f":{k}" for k in row)
        connection.execute(sa.text(f"INSERT INTO subframes ({columns}) VALUES ({values})"), row)
