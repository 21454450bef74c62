"""The catalogue's side of planning: light frames around a target with their verdicts, and the
camera field the frames there were taken with. SQL only; geometry is the service's job.

A frame's verdict comes from its grade when the catalogue has grades (``grade_override`` wins
over ``grade``); a catalogue without the grade columns (before the grading migration) counts
every solved light as accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["LightFrame", "camera_field_near", "has_grades", "light_frames_near"]


@dataclass(frozen=True)
class LightFrame:
    """A light frame near a target: where it points, what it is worth and why not.

    ``ra``/``dec`` are the solved centre, or the header pointing for an unsolved frame.
    """

    id: int
    path: str
    ra: float
    dec: float
    filter: str | None
    exposure: float
    date_obs: datetime | None
    accepted: bool
    reasons: tuple[str, ...]  # why it is not accepted; empty when accepted
    width: int = 0  # pixels as read out (after binning)
    height: int = 0
    binning: int = 1


def has_grades(connection: Connection) -> bool:
    """Whether ``subframes`` has the grade columns yet."""
    found = connection.execute(
        sa.text(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'subframes' "
            "AND column_name IN ('grade', 'grade_reasons')"
        )
    ).scalar_one()
    return found == 2


def _grade_columns(connection: Connection) -> str:
    if not has_grades(connection):
        return "NULL::text AS grade, NULL::text[] AS grade_reasons, false AS graded"
    override = connection.execute(
        sa.text(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'subframes' "
            "AND column_name = 'grade_override'"
        )
    ).scalar_one()
    grade = "COALESCE(grade_override, grade)" if override else "grade"
    return f"{grade} AS grade, grade_reasons, true AS graded"


def _reasons(row: sa.Row) -> tuple[bool, tuple[str, ...]]:
    if row.solve_status != "solved":
        return False, (f"unsolved: {row.solve_reason or row.solve_status}",)
    if not row.graded:
        return True, ()
    if row.grade == "accepted":
        return True, ()
    if row.grade is None:
        return False, ("not graded yet",)
    reasons = tuple(str(r) for r in (row.grade_reasons or ()) if r)
    return False, reasons or ("rejected",)


def light_frames_near(
    connection: Connection, ra: float, dec: float, radius: float
) -> list[LightFrame]:
    """Light frames within ``radius`` degrees of (ra, dec): solved centres through the Q3C
    index, plus unsolved frames by their header pointing (so their rejections are reported)."""
    columns = (
        "id, path, filter, COALESCE(exposure, 0) AS exposure, date_obs, solve_status, "
        "solve_reason, width, height, COALESCE(xbinning, 1) AS binning, "
        f"{_grade_columns(connection)}"
    )
    sql = sa.text(
        f"SELECT ra, dec, {columns} FROM subframes "
        "WHERE frame_type = 'light' AND ra IS NOT NULL "
        "AND q3c_radial_query(ra, dec, :ra, :dec, :radius) "
        "UNION ALL "
        f"SELECT header_ra AS ra, header_dec AS dec, {columns} FROM subframes "
        "WHERE frame_type = 'light' AND ra IS NULL AND header_ra IS NOT NULL "
        "AND q3c_radial_query(header_ra, header_dec, :ra, :dec, :radius) "
        "ORDER BY id"
    )
    rows = connection.execute(sql, {"ra": ra, "dec": dec, "radius": radius})
    frames = []
    for row in rows:
        accepted, reasons = _reasons(row)
        frames.append(
            LightFrame(
                id=row.id,
                path=row.path,
                ra=row.ra,
                dec=row.dec,
                filter=row.filter,
                exposure=float(row.exposure),
                date_obs=row.date_obs,
                accepted=accepted,
                reasons=reasons,
                width=int(row.width or 0),
                height=int(row.height or 0),
                binning=int(row.binning or 1),
            )
        )
    return frames


def camera_field_near(
    connection: Connection, ra: float, dec: float, radius: float
) -> tuple[float, float] | None:
    """Median (width, height) in degrees of the solved lights near (ra, dec), or None."""
    row = connection.execute(
        sa.text(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY width_deg) AS width, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY height_deg) AS height "
            "FROM subframes WHERE frame_type = 'light' AND ra IS NOT NULL "
            "AND width_deg > 0 AND height_deg > 0 "
            "AND q3c_radial_query(ra, dec, :ra, :dec, :radius)"
        ),
        {"ra": ra, "dec": dec, "radius": radius},
    ).one()
    if row.width is None:
        return None
    return float(row.width), float(row.height)
