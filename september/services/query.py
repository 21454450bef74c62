"""Sky queries for people: near a position, or frames whose footprint covers it.

The catalogue answers the coarse, indexed part in SQL; the exact spherical footprint test is
science (``september.astrometry.footprint``) and runs here on the few candidates.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from september.catalogue import frames
from september.catalogue.frames import FrameFilters, FrameRecord

__all__ = ["count_near", "frames_covering", "frames_matching", "frames_near"]


def frames_near(
    engine: Engine,
    ra: float,
    dec: float,
    radius: float,
    filters: FrameFilters | None = None,
    *,
    limit: int | None = None,
) -> list[FrameRecord]:
    """Frames whose solved centre is within ``radius`` degrees of (ra, dec)."""
    with engine.connect() as connection:
        return frames.radial(connection, ra, dec, radius, filters, limit=limit)


def count_near(
    engine: Engine, ra: float, dec: float, radius: float, filters: FrameFilters | None = None
) -> int:
    """How many frames ``frames_near`` would return (same SQL as the user's count query)."""
    with engine.connect() as connection:
        return frames.count_radial(connection, ra, dec, radius, filters)


def frames_covering(
    engine: Engine, ra: float, dec: float, filters: FrameFilters | None = None
) -> list[FrameRecord]:
    """Solved frames whose footprint contains the point (ra, dec)."""
    from september.astrometry.footprint import footprint_contains

    with engine.connect() as connection:
        candidates = frames.covering_candidates(connection, ra, dec, filters)
    return [
        record
        for record in candidates
        if record.corner_points and footprint_contains(record.corner_points, ra, dec)
    ]


def frames_matching(engine: Engine, filters: FrameFilters | None = None) -> list[FrameRecord]:
    """Every frame that passes the filters, whatever its sky position."""
    with engine.connect() as connection:
        return frames.listing(connection, filters)
