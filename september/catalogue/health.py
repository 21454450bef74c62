"""Catalogue figures for ``september status``: what is catalogued, and what failed lately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from september.catalogue.models import IngestFailure, Subframe


@dataclass(frozen=True)
class CatalogueHealth:
    frames: dict[str, int]  # frame type -> rows
    lights_solved: int
    lights_unsolved: int
    last_ingested_path: str | None
    last_ingested_at: datetime | None
    recent_failures: dict[str, int]  # reason -> files seen failing within the window


def catalogue_health(connection: Connection, window_hours: float = 24.0) -> CatalogueHealth:
    by_type = dict(
        connection.execute(
            sa.select(Subframe.frame_type, sa.func.count()).group_by(Subframe.frame_type)
        ).all()
    )
    solved = connection.execute(
        sa.select(
            sa.func.count().filter(Subframe.solve_status == "solved"),
            sa.func.count().filter(Subframe.solve_status != "solved"),
        ).where(Subframe.frame_type == "light")
    ).one()
    last = connection.execute(
        sa.select(Subframe.path, Subframe.ingested_at)
        .order_by(Subframe.ingested_at.desc(), Subframe.id.desc())
        .limit(1)
    ).first()
    since = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, window_hours * 3600.0)
    failures = dict(
        connection.execute(
            sa.select(IngestFailure.reason, sa.func.count())
            .where(IngestFailure.last_seen >= since)
            .group_by(IngestFailure.reason)
        ).all()
    )
    return CatalogueHealth(
        frames=by_type,
        lights_solved=solved[0],
        lights_unsolved=solved[1],
        last_ingested_path=last[0] if last else None,
        last_ingested_at=last[1] if last else None,
        recent_failures=failures,
    )
