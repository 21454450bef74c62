"""Clusters (pointings, mosaic panels) and which frames belong to them: tables and SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from september.catalogue.models import Base, Subframe

__all__ = [
    "Cluster",
    "ClusterMember",
    "ClusterRecord",
    "ClusterSummary",
    "LightPositions",
    "add_members",
    "add_memberships",
    "cluster_positions",
    "cluster_summaries",
    "create_clusters",
    "list_clusters",
    "member_ids",
    "unclustered_lights",
    "update_centre",
]

_FLOAT = sa.Double()


class Cluster(Base):
    """A pointing: frames of one rig whose centres lie within a fraction of the field.

    ``name`` is ``<target>-P<n>``, given once and kept, so packages and plans stay stable as
    nights are added. ``rig`` is the field size (``"1.91x1.45"`` degrees) that keeps rigs apart.
    """

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    target: Mapped[str] = mapped_column(sa.Text)
    panel: Mapped[str] = mapped_column(sa.Text)
    rig: Mapped[str] = mapped_column(sa.Text)
    ra: Mapped[float] = mapped_column(_FLOAT)
    dec: Mapped[float] = mapped_column(_FLOAT)
    width_deg: Mapped[float] = mapped_column(_FLOAT)
    height_deg: Mapped[float] = mapped_column(_FLOAT)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )

    __table_args__ = (
        sa.Index("clusters_q3c", sa.func.q3c_ang2ipix(sa.column("ra"), sa.column("dec"))),
    )


class ClusterMember(Base):
    """A frame's cluster (a frame belongs to at most one)."""

    __tablename__ = "cluster_members"

    subframe_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey(Subframe.id, ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey(Cluster.id, ondelete="CASCADE"), index=True
    )


@dataclass(frozen=True)
class ClusterRecord:
    id: int
    name: str
    target: str
    panel: str
    rig: str
    ra: float
    dec: float
    width_deg: float
    height_deg: float


@dataclass(frozen=True)
class LightPositions:
    """What clustering needs to know about solved lights, as columns (one entry per frame)."""

    id: list[int]
    ra: list[float]
    dec: list[float]
    width_deg: list[float]
    height_deg: list[float]
    object: list[str | None]

    def __len__(self) -> int:
        return len(self.id)


@dataclass(frozen=True)
class ClusterSummary:
    cluster: ClusterRecord
    frames: int
    accepted: int
    integration_by_filter: dict[str, float]  # seconds of accepted lights


_CLUSTER_COLUMNS = [getattr(Cluster, name) for name in ClusterRecord.__dataclass_fields__]


def list_clusters(connection: Connection) -> list[ClusterRecord]:
    rows = connection.execute(sa.select(*_CLUSTER_COLUMNS).order_by(Cluster.name))
    return [ClusterRecord(*row) for row in rows]


def unclustered_lights(connection: Connection) -> LightPositions:
    """Solved lights that belong to no cluster yet, as columns (fast for 100,000 rows)."""
    query = (
        sa.select(
            Subframe.id,
            Subframe.ra,
            Subframe.dec,
            Subframe.width_deg,
            Subframe.height_deg,
            Subframe.object,
        )
        .outerjoin(ClusterMember, ClusterMember.subframe_id == Subframe.id)
        .where(
            Subframe.frame_type == "light",
            Subframe.ra.is_not(None),
            Subframe.width_deg.is_not(None),
            ClusterMember.subframe_id.is_(None),
        )
        .order_by(Subframe.id)
    )
    compiled = query.compile(dialect=connection.dialect)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(str(compiled), compiled.params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * 6
    return LightPositions(*(list(c) for c in columns))


def create_clusters(connection: Connection, records: Sequence[ClusterRecord]) -> list[int]:
    """Insert clusters in one statement; returns their ids in the order given."""
    if not records:
        return []
    rows = [{k: v for k, v in r.__dict__.items() if k != "id"} for r in records]
    statement = sa.insert(Cluster).returning(Cluster.id, sort_by_parameter_order=True)
    return list(connection.execute(statement, rows).scalars())


def add_memberships(
    connection: Connection, memberships: Iterable[tuple[int, Iterable[int]]]
) -> None:
    """Put frames into clusters: ``[(cluster_id, [subframe ids]), ...]``, in one statement."""
    subframes: list[int] = []
    clusters: list[int] = []
    for cluster_id, ids in memberships:
        ids = list(ids)
        subframes.extend(ids)
        clusters.extend([cluster_id] * len(ids))
    if subframes:
        connection.execute(
            sa.text(
                "INSERT INTO cluster_members (subframe_id, cluster_id) "
                "SELECT * FROM unnest(CAST(:subframes AS bigint[]), CAST(:clusters AS bigint[])) "
                "ON CONFLICT (subframe_id) DO NOTHING"
            ),
            {  # array literals: much faster to send than lists of 100,000 parameters
                "subframes": "{" + ",".join(map(str, subframes)) + "}",
                "clusters": "{" + ",".join(map(str, clusters)) + "}",
            },
        )


def add_members(connection: Connection, cluster_id: int, subframe_ids: Iterable[int]) -> None:
    add_memberships(connection, [(cluster_id, subframe_ids)])


def update_centre(connection: Connection, cluster_id: int, ra: float, dec: float) -> None:
    connection.execute(
        sa.update(Cluster)
        .where(Cluster.id == cluster_id)
        .values(ra=ra, dec=dec, updated_at=sa.func.now())
    )


def member_ids(connection: Connection, cluster_id: int) -> list[int]:
    query = sa.select(ClusterMember.subframe_id).where(ClusterMember.cluster_id == cluster_id)
    return list(connection.execute(query.order_by(ClusterMember.subframe_id)).scalars())


def cluster_positions(connection: Connection, cluster_id: int) -> list[tuple[float, float]]:
    """(ra, dec) of a cluster's members, to recompute its centre."""
    query = (
        sa.select(Subframe.ra, Subframe.dec)
        .join(ClusterMember, ClusterMember.subframe_id == Subframe.id)
        .where(ClusterMember.cluster_id == cluster_id)
    )
    return [(ra, dec) for ra, dec in connection.execute(query)]


def cluster_summaries(
    connection: Connection,
    accepted_clause: sa.ColumnElement[bool] | None = None,
    names: Sequence[str] | None = None,
) -> list[ClusterSummary]:
    """Every cluster with its frame count and accepted integration per filter.

    ``accepted_clause`` says which lights count as accepted (grading may not have run).
    """
    accepted = accepted_clause if accepted_clause is not None else sa.true()
    query = (
        sa.select(
            ClusterMember.cluster_id,
            Subframe.filter,
            sa.func.count(),
            sa.func.count().filter(accepted),
            sa.func.coalesce(sa.func.sum(Subframe.exposure).filter(accepted), 0.0),
        )
        .join(Subframe, Subframe.id == ClusterMember.subframe_id)
        .group_by(ClusterMember.cluster_id, Subframe.filter)
    )
    per_cluster: dict[int, list[tuple[str | None, int, int, float]]] = {}
    for cluster_id, filter_name, frames, accepted_frames, seconds in connection.execute(query):
        per_cluster.setdefault(cluster_id, []).append(
            (filter_name, frames, accepted_frames, seconds)
        )
    summaries = []
    for record in list_clusters(connection):
        if names and record.name not in names:
            continue
        rows = per_cluster.get(record.id, [])
        summaries.append(
            ClusterSummary(
                cluster=record,
                frames=sum(r[1] for r in rows),
                accepted=sum(r[2] for r in rows),
                integration_by_filter={(r[0] or "none"): float(r[3]) for r in rows if r[3]},
            )
        )
    return summaries


def effective_grade() -> sa.ColumnElement[str | None]:
    """A frame's grade as the user sees it: the manual override wins over the computed grade."""
    return sa.func.coalesce(Subframe.grade_override, Subframe.grade)


def accepted_clause() -> sa.ColumnElement[bool]:
    return effective_grade() == "accepted"


def cluster_lights(connection: Connection, cluster_ids: Sequence[int]) -> list[dict]:
    """Every column of the member lights of ``cluster_ids``, plus ``cluster_id`` and
    ``effective_grade``, as plain dictionaries (ordered by cluster and date)."""
    query = (
        sa.select(
            Subframe.__table__,
            ClusterMember.cluster_id,
            effective_grade().label("effective_grade"),
        )
        .join(ClusterMember, ClusterMember.subframe_id == Subframe.id)
        .where(ClusterMember.cluster_id.in_(list(cluster_ids)), Subframe.frame_type == "light")
        .order_by(ClusterMember.cluster_id, Subframe.date_obs, Subframe.id)
    )
    return [dict(row) for row in connection.execute(query).mappings()]


def calibration_library(connection: Connection) -> list[dict]:
    """Every catalogued calibration frame, as plain dictionaries."""
    query = sa.select(Subframe.__table__).where(Subframe.frame_type != "light")
    return [dict(row) for row in connection.execute(query.order_by(Subframe.path)).mappings()]


def clusters_near(
    connection: Connection, ra: float, dec: float, radius: float
) -> list[ClusterRecord]:
    """Clusters whose centre is within ``radius`` degrees (Q3C)."""
    query = sa.select(*_CLUSTER_COLUMNS).where(
        sa.func.q3c_radial_query(Cluster.ra, Cluster.dec, ra, dec, radius)
    )
    return [ClusterRecord(*row) for row in connection.execute(query.order_by(Cluster.name))]
