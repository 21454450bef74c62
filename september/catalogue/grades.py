"""The SQL behind frame grading and the night report: reading light frames with their metrics,
storing metrics and grades, and the user's manual overrides (which always win)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from september.catalogue.models import Subframe
from september.errors import SeptemberError

__all__ = [
    "GRADES",
    "METRIC_COLUMNS",
    "NIGHT_SQL",
    "light_frames",
    "set_override",
    "store_grades",
    "store_metrics",
]

GRADES = ("accepted", "rejected")
METRIC_COLUMNS = (
    "fwhm_arcsec",
    "zero_point",
    "limiting_mag",
    "catalogue_fraction",
    "snr_weight",
    "trail_score",
    "background_gradient",
    "matched_stars",
)
"""Columns measured once per frame (grading re-measures them only with ``--regrade``)."""

NIGHT_SQL = "((date_obs AT TIME ZONE 'UTC') - interval '12 hours')::date"
"""A frame's observing night in SQL: the UTC date twelve hours earlier (evening date)."""

_COLUMNS = [
    "id",
    "path",
    "object",
    "filter",
    "exposure",
    "gain",
    "xbinning",
    "ybinning",
    "camera",
    "telescope",
    "date_obs",
    "ra",
    "dec",
    "header_ra",
    "header_dec",
    "radius_deg",
    "pixel_scale",
    "width",
    "height",
    "corners",
    "solve_status",
    "solve_reason",
    "wcs",
    "star_count",
    "fwhm",
    "hfr",
    "eccentricity",
    "background",
    "background_rms",
    "stars",
    "grade",
    "grade_reasons",
    "grade_override",
    "graded_at",
    "transparency",
    "off_target_deg",
    *METRIC_COLUMNS,
]


def light_frames(
    connection: Connection,
    *,
    night: date | None = None,
    target: str | None = None,
    with_blobs: bool = True,
) -> list[Mapping[str, Any]]:
    """Light frames (all, or of one night / one OBJECT) with everything grading needs,
    ordered by time. ``with_blobs=False`` leaves out the WCS text and the packed stars."""
    columns = [c for c in _COLUMNS if with_blobs or c not in ("wcs", "stars")]
    table = Subframe.__table__
    query = sa.select(*(table.c[c] for c in columns)).where(table.c.frame_type == "light")
    if night is not None:
        query = query.where(sa.text(f"{NIGHT_SQL} = :night").bindparams(night=night))
    if target is not None:
        query = query.where(sa.func.lower(table.c.object) == target.lower())
    query = query.order_by(table.c.date_obs.nulls_last(), table.c.id)
    return list(connection.execute(query).mappings())


def store_metrics(connection: Connection, frame_id: int, values: Mapping[str, Any]) -> None:
    """Write measured quality metrics (a subset of ``METRIC_COLUMNS``) to one frame."""
    unknown = set(values) - set(METRIC_COLUMNS)
    if unknown:
        raise ValueError(f"not metric columns: {sorted(unknown)}")
    table = Subframe.__table__
    connection.execute(table.update().where(table.c.id == frame_id).values(**values))


def store_grades(connection: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write grades: each row has ``id``, ``grade``, ``grade_reasons``, ``transparency``,
    ``off_target_deg``. A manual override on the row wins over the computed grade."""
    rows = [dict(row) for row in rows]
    if not rows:
        return 0
    connection.execute(
        sa.text(
            "UPDATE subframes SET grade = coalesce(grade_override, :grade), "
            "grade_reasons = :grade_reasons, transparency = :transparency, "
            "off_target_deg = :off_target_deg, graded_at = now() WHERE id = :id"
        ),
        rows,
    )
    return len(rows)


def set_override(connection: Connection, frame_id: int, grade: str | None) -> None:
    """Set (or with ``None`` clear) the manual grade of a light frame; it survives regrades."""
    if grade is not None and grade not in GRADES:
        raise SeptemberError(f"grade {grade!r} is not one of {', '.join(GRADES)}")
    result = connection.execute(
        sa.text(
            "UPDATE subframes SET grade_override = CAST(:grade AS text), "
            "grade = coalesce(CAST(:grade AS text), grade), updated_at = now() "
            "WHERE id = :id AND frame_type = 'light'"
        ),
        {"grade": grade, "id": frame_id},
    )
    if result.rowcount == 0:
        raise SeptemberError(
            f"no light frame with id {frame_id}; list frames with `september query`"
        )


def last_graded(connection: Connection) -> datetime | None:
    """When grading last ran (None: never)."""
    return connection.execute(sa.text("SELECT max(graded_at) FROM subframes")).scalar_one()
