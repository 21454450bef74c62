"""What arrived in the catalogue during a time window: the figures of a night summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from september.catalogue.models import IngestFailure, Subframe


@dataclass(frozen=True)
class ArrivalRow:
    frame_type: str
    object: str | None
    filter: str | None
    frames: int
    seconds: float
    solved: int
    accepted: int
    rejected: int


def arrivals(connection: Connection, since: datetime | None) -> list[ArrivalRow]:
    """Frames catalogued since ``since`` (all when None), by type, object and filter."""
    grade = sa.func.coalesce(Subframe.grade_override, Subframe.grade)
    query = sa.select(
        Subframe.frame_type,
        Subframe.object,
        Subframe.filter,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(Subframe.exposure), 0.0),
        sa.func.count().filter(Subframe.solve_status == "solved"),
        sa.func.count().filter(grade == "accepted"),
        sa.func.count().filter(grade == "rejected"),
    ).group_by(Subframe.frame_type, Subframe.object, Subframe.filter)
    if since is not None:
        query = query.where(Subframe.ingested_at >= since)
    rows = connection.execute(query.order_by(Subframe.frame_type, Subframe.object, Subframe.filter))
    return [ArrivalRow(*row) for row in rows]


def failures_since(connection: Connection, since: datetime | None) -> dict[str, int]:
    query = sa.select(IngestFailure.reason, sa.func.count()).group_by(IngestFailure.reason)
    if since is not None:
        query = query.where(IngestFailure.last_seen >= since)
    return dict(connection.execute(query).all())
