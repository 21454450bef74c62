"""Catalog: fill the reference star table from the bundled Gaia data, the Gaia archive for the
sky the user images, or a user's file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from september.catalogue import reference_stars

__all__ = ["SOURCES", "imaged_regions", "load_catalogue"]

SOURCES = ("gaia-bundled", "gaia-archive")  # or a path to a CSV/FITS file
REGION_MARGIN = 1.1  # archive cones reach this many field radii around imaged frames


def imaged_regions(connection: sa.Connection) -> list[tuple[float, float, float]]:
    """(ra, dec, radius) cones covering the solved frames, one per ~degree cell."""
    rows = connection.execute(
        sa.text(
            "SELECT round(ra::numeric, 0) AS r, round(dec::numeric, 0) AS d, avg(ra), avg(dec), "
            "max(radius_deg) FROM subframes WHERE ra IS NOT NULL GROUP BY 1, 2"
        )
    ).all()
    return [(float(r[2]), float(r[3]), float(r[4]) * REGION_MARGIN + 0.75) for r in rows]


def load_catalogue(
    engine: sa.Engine,
    source: str = "gaia-bundled",
    *,
    ra: float | None = None,
    dec: float | None = None,
    radius: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> reference_stars.LoadResult:
    """Load reference stars from ``source`` ('gaia-bundled', 'gaia-archive' or a file path)
    into the ``stars`` table, optionally only within ``radius`` degrees of (ra, dec)."""
    from september.sky import reference_sources

    cone = (ra, dec, radius) if None not in (ra, dec, radius) else None
    if source == "gaia-bundled":
        stars = reference_sources.bundled_gaia(*(cone or (None, None, None)))
        origin = "gaia-bundled"
    elif source == "gaia-archive":
        if cone is None:
            with engine.connect() as connection:
                cones = imaged_regions(connection)
        else:
            cones = [cone]  # type: ignore[list-item]
        stars = reference_sources.gaia_archive(cones)
        origin = "gaia-archive"
    else:
        path = Path(source).expanduser()
        stars = reference_sources.read_star_table(path)
        if cone is not None:
            from september.sky.gaia import angular_distance

            stars = stars[angular_distance(stars["ra"], stars["dec"], ra, dec) <= radius]
        origin = path.name
    with engine.begin() as connection:
        missing = stars["source_id"] == 0
        if missing.any():
            stars["source_id"][missing] = reference_stars.user_source_ids(
                connection, stars["ra"][missing], stars["dec"][missing]
            )
        return reference_stars.load_stars(
            connection, stars.astype(reference_stars.STAR_DTYPE), origin, progress
        )


def describe(engine: sa.Engine) -> list[tuple[str, int]]:
    """(origin, stars) of everything loaded."""
    with engine.connect() as connection:
        return [(str(o), int(n)) for o, n in reference_stars.origins(connection)]
