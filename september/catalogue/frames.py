"""Reading and writing frame rows: the only place that speaks SQL about ``subframes``.

Every function takes an open SQLAlchemy ``Connection`` so the caller decides the transaction
(one file = one transaction in the ingest). Rows leave this module as frozen dataclasses.
Writes are safe with several ingesters running at once: identity is the content hash
(``sha256`` unique, ``INSERT ... ON CONFLICT``), and writers of the same content are serialised
by a transaction-level advisory lock on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from september.catalogue.models import IngestFailure, Subframe

__all__ = [
    "FailureRecord",
    "FrameFilters",
    "FrameRecord",
    "KnownFile",
    "UpsertResult",
    "clear_failure",
    "count_radial",
    "covering_candidates",
    "failures",
    "find_by_path",
    "find_by_sha",
    "known_file",
    "known_files",
    "listing",
    "maintain",
    "radial",
    "record_failure",
    "relocate",
    "upsert_frame",
]

_FRAMES = Subframe.__table__
_FAILURES = IngestFailure.__table__
_IDENTITY = ("path", "size", "mtime", "updated_at")


@dataclass(frozen=True)
class FrameRecord:
    """One row of ``subframes`` (see ``models.Subframe`` for the meaning of the columns)."""

    id: int
    path: str
    size: int
    mtime: float
    sha256: str
    frame_type: str
    object: str | None
    filter: str | None
    exposure: float | None
    gain: float | None
    offset: float | None
    xbinning: int | None
    ybinning: int | None
    ccd_temp: float | None
    set_temp: float | None
    camera: str | None
    telescope: str | None
    focal_length: float | None
    pixel_size: float | None
    date_obs: datetime | None
    pier_side: str | None
    header_ra: float | None
    header_dec: float | None
    width: int
    height: int
    capture_software: str | None
    extras: dict[str, Any]
    wcs: str | None
    ra: float | None
    dec: float | None
    pixel_scale: float | None
    rotation: float | None
    parity: str | None
    width_deg: float | None
    height_deg: float | None
    radius_deg: float | None
    corners: tuple[float, ...] | None
    solve_status: str
    solve_reason: str | None
    star_count: int | None
    fwhm: float | None
    hfr: float | None
    eccentricity: float | None
    background: float | None
    background_rms: float | None
    stars: bytes | None
    ingested_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FrameRecord:
        values = dict(row)
        if values.get("corners") is not None:
            values["corners"] = tuple(values["corners"])
        if values.get("stars") is not None:
            values["stars"] = bytes(values["stars"])
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls)})

    @property
    def corner_points(self) -> list[tuple[float, float]] | None:
        """The footprint as four ``(ra, dec)`` pairs, or None when unsolved."""
        if self.corners is None:
            return None
        c = self.corners
        return [(c[i], c[i + 1]) for i in range(0, len(c), 2)]

    def to_dict(self, *, with_wcs: bool = True) -> dict[str, Any]:
        """JSON-safe dictionary (times in ISO 8601; the packed star list left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "stars" or (f.name == "wcs" and not with_wcs):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class FailureRecord:
    """One row of ``ingest_failures``."""

    path: str
    size: int
    mtime: float
    reason: str
    message: str
    attempts: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class KnownFile:
    """What the catalogue remembers about a path: enough to skip an unchanged file cheaply."""

    size: int
    mtime: float
    failed: bool  # True: recorded in ingest_failures, not in subframes


@dataclass(frozen=True)
class FrameFilters:
    """Optional restrictions shared by every query. Text matches ignore case; ``object``
    accepts ``*`` wildcards; ``since`` is inclusive and ``until`` exclusive (on date_obs)."""

    frame_type: str | None = None
    filter: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    object: str | None = None

    def clauses(self) -> list[sa.ColumnElement[bool]]:
        c = _FRAMES.c
        found: list[sa.ColumnElement[bool]] = []
        if self.frame_type:
            found.append(c.frame_type == self.frame_type.lower())
        if self.filter:
            found.append(sa.func.lower(c.filter) == self.filter.lower())
        if self.since:
            found.append(c.date_obs >= self.since)
        if self.until:
            found.append(c.date_obs < self.until)
        if self.object:
            pattern = self.object.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            found.append(sa.func.trim(c.object).ilike(pattern.strip().replace("*", "%")))
        return found


@dataclass(frozen=True)
class UpsertResult:
    """What ``upsert_frame`` did: the row id and whether this call created it."""

    id: int
    inserted: bool


# -- lookups -----------------------------------------------------------------------------------


def find_by_sha(connection: Connection, sha256: str) -> FrameRecord | None:
    row = connection.execute(sa.select(_FRAMES).where(_FRAMES.c.sha256 == sha256)).mappings()
    found = row.first()
    return FrameRecord.from_row(found) if found else None


def find_by_path(connection: Connection, path: str) -> FrameRecord | None:
    row = connection.execute(sa.select(_FRAMES).where(_FRAMES.c.path == path)).mappings()
    found = row.first()
    return FrameRecord.from_row(found) if found else None


def known_file(connection: Connection, path: str) -> KnownFile | None:
    """Size and mtime the catalogue (or the failure record) holds for ``path``."""
    for table, failed in ((_FRAMES, False), (_FAILURES, True)):
        query = sa.select(table.c.size, table.c.mtime).where(table.c.path == path)
        row = connection.execute(query).first()
        if row is not None:
            return KnownFile(size=row.size, mtime=row.mtime, failed=failed)
    return None


def known_files(connection: Connection, prefix: str = "") -> dict[str, KnownFile]:
    """Size and mtime of every catalogued or failed path starting with ``prefix``."""
    known: dict[str, KnownFile] = {}
    for table, failed in ((_FAILURES, True), (_FRAMES, False)):
        query = sa.select(table.c.path, table.c.size, table.c.mtime)
        if prefix:
            query = query.where(sa.func.starts_with(table.c.path, prefix))
        for path, size, mtime in connection.execute(query):
            known[path] = KnownFile(size=size, mtime=mtime, failed=failed)
    return known


# -- writes ------------------------------------------------------------------------------------


def _lock_content(connection: Connection, sha256: str) -> None:
    connection.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:sha, 0))"), {"sha": sha256}
    )


def _free_path(connection: Connection, path: str, sha256: str) -> None:
    """A path now holds other content: forget the row of what used to be there."""
    connection.execute(sa.delete(_FRAMES).where(_FRAMES.c.path == path, _FRAMES.c.sha256 != sha256))


def upsert_frame(connection: Connection, values: Mapping[str, Any]) -> UpsertResult:
    """Insert a frame row; when its content (sha256) is already catalogued, update its location.

    ``values`` maps column names to values (``id`` and the timestamps are set by the database).
    """
    sha256 = values["sha256"]
    _lock_content(connection, sha256)
    _free_path(connection, values["path"], sha256)
    statement = pg_insert(_FRAMES).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[_FRAMES.c.sha256],
        set_={
            "path": statement.excluded.path,
            "size": statement.excluded.size,
            "mtime": statement.excluded.mtime,
            "updated_at": sa.func.now(),
        },
    ).returning(_FRAMES.c.id, sa.literal_column("xmax = 0").label("inserted"))
    row = connection.execute(statement).one()
    connection.execute(sa.delete(_FAILURES).where(_FAILURES.c.path == values["path"]))
    return UpsertResult(id=row.id, inserted=bool(row.inserted))


def relocate(connection: Connection, sha256: str, path: str, size: int, mtime: float) -> str | None:
    """Point the row of known content at its new path; return the old path (None: unknown sha).

    Returns ``path`` itself when nothing moved.
    """
    _lock_content(connection, sha256)
    _free_path(connection, path, sha256)
    old = (
        sa.select(_FRAMES.c.id, _FRAMES.c.path.label("old_path"))
        .where(_FRAMES.c.sha256 == sha256)
        .with_for_update()
        .subquery()
    )
    statement = (
        sa.update(_FRAMES)
        .where(_FRAMES.c.id == old.c.id)
        .values(path=path, size=size, mtime=mtime, updated_at=sa.func.now())
        .returning(old.c.old_path)
    )
    row = connection.execute(statement).first()
    if row is not None:
        connection.execute(sa.delete(_FAILURES).where(_FAILURES.c.path == path))
    return row.old_path if row else None


def record_failure(
    connection: Connection, path: str, size: int, mtime: float, reason: str, message: str
) -> None:
    """Remember that ``path`` (at this size and mtime) could not be catalogued, and why."""
    statement = pg_insert(_FAILURES).values(
        path=path, size=size, mtime=mtime, reason=reason, message=message
    )
    statement = statement.on_conflict_do_update(
        index_elements=[_FAILURES.c.path],
        set_={
            "size": statement.excluded.size,
            "mtime": statement.excluded.mtime,
            "reason": statement.excluded.reason,
            "message": statement.excluded.message,
            "attempts": _FAILURES.c.attempts + 1,
            "last_seen": sa.func.now(),
        },
    )
    connection.execute(statement)


def clear_failure(connection: Connection, path: str) -> None:
    connection.execute(sa.delete(_FAILURES).where(_FAILURES.c.path == path))


def failures(connection: Connection, reason: str | None = None) -> list[FailureRecord]:
    query = sa.select(*(_FAILURES.c[f.name] for f in dataclasses.fields(FailureRecord)))
    if reason:
        query = query.where(_FAILURES.c.reason == reason)
    rows = connection.execute(query.order_by(_FAILURES.c.path)).mappings()
    return [FailureRecord(**row) for row in rows]


# -- sky queries -------------------------------------------------------------------------------


def _radial_clause(ra: float, dec: float, radius: float) -> sa.ColumnElement[bool]:
    # The table's columns come first, or Q3C cannot use its index.
    c = _FRAMES.c
    return sa.func.q3c_radial_query(c.ra, c.dec, ra, dec, radius, type_=sa.Boolean)


def radial(
    connection: Connection,
    ra: float,
    dec: float,
    radius: float,
    filters: FrameFilters | None = None,
    *,
    limit: int | None = None,
) -> list[FrameRecord]:
    """Frames whose solved centre lies within ``radius`` degrees of (ra, dec), by date."""
    clauses = [_radial_clause(ra, dec, radius), *(filters or FrameFilters()).clauses()]
    query = sa.select(_FRAMES).where(*clauses).order_by(_FRAMES.c.date_obs, _FRAMES.c.id)
    if limit:
        query = query.limit(limit)
    return [FrameRecord.from_row(row) for row in connection.execute(query).mappings()]


def count_radial(
    connection: Connection,
    ra: float,
    dec: float,
    radius: float,
    filters: FrameFilters | None = None,
) -> int:
    clauses = [_radial_clause(ra, dec, radius), *(filters or FrameFilters()).clauses()]
    query = sa.select(sa.func.count()).select_from(_FRAMES).where(*clauses)
    return int(connection.execute(query).scalar_one())


def covering_candidates(
    connection: Connection, ra: float, dec: float, filters: FrameFilters | None = None
) -> list[FrameRecord]:
    """Coarse step of "which frames cover (ra, dec)": solved frames whose centre is within their
    own radius of the point, found through the Q3C index with the largest radius in the table.

    The caller applies the exact footprint test to the candidates.
    """
    largest = connection.execute(sa.select(sa.func.max(_FRAMES.c.radius_deg))).scalar_one()
    if largest is None:
        return []
    c = _FRAMES.c
    clauses = [
        _radial_clause(ra, dec, float(largest)),
        sa.func.q3c_dist(c.ra, c.dec, ra, dec) <= c.radius_deg,
        *(filters or FrameFilters()).clauses(),
    ]
    query = sa.select(_FRAMES).where(*clauses).order_by(c.date_obs, c.id)
    return [FrameRecord.from_row(row) for row in connection.execute(query).mappings()]


def listing(connection: Connection, filters: FrameFilters | None = None) -> list[FrameRecord]:
    """Every frame matching the filters (no sky restriction), by date."""
    query = sa.select(_FRAMES).where(*(filters or FrameFilters()).clauses())
    query = query.order_by(_FRAMES.c.date_obs, _FRAMES.c.id)
    return [FrameRecord.from_row(row) for row in connection.execute(query).mappings()]


def maintain(connection: Connection) -> None:
    """Re-cluster ``subframes`` on its Q3C index and refresh the planner's statistics.

    CLUSTER takes an exclusive lock on the table while it rewrites it: run it when no ingest is
    writing (e.g. after the nightly job).
    """
    connection.exec_driver_sql("CLUSTER subframes USING subframes_q3c")
    connection.exec_driver_sql("ANALYZE subframes")
    connection.exec_driver_sql("ANALYZE ingest_failures")
