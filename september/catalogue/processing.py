"""Processing runs of export packages (PixInsight): which frames were integrated and which
masters and images were produced, so the catalogue knows what has been processed where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from september.catalogue.models import Base, Subframe

__all__ = [
    "PRODUCT_KINDS",
    "ProcessingFrame",
    "ProcessingProduct",
    "ProcessingRun",
    "integrated_subframes",
    "record_run",
]

PRODUCT_KINDS = (
    "master-bias",
    "master-dark",
    "master-flat",
    "master-dark-flat",
    "integration",
    "combination",
)


class ProcessingRun(Base):
    """One run of the PixInsight companion on a package; ``result`` is its whole result JSON.

    ``cluster`` is the package's cluster name; ``cluster_id`` links it to the catalogue's
    cluster of that name when there is one.
    """

    __tablename__ = "processing_runs"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    tool: Mapped[str] = mapped_column(sa.Text, server_default=sa.text("'pixinsight'"))
    package_dir: Mapped[str] = mapped_column(sa.Text)
    cluster: Mapped[str] = mapped_column(sa.Text)
    cluster_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.ForeignKey("clusters.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    script_version: Mapped[str | None] = mapped_column(sa.Text)
    steps: Mapped[list[str]] = mapped_column(ARRAY(sa.Text))
    result_path: Mapped[str] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )

    __table_args__ = (
        sa.CheckConstraint("status IN ('success', 'failed')", name="processing_runs_status"),
        sa.Index("processing_runs_cluster", "cluster"),
    )


class ProcessingFrame(Base):
    """A light of a processing run: how far it got, and whether it went into an integration.

    ``subframe_id`` is the catalogued frame with the same SHA-256 (NULL when not catalogued).
    """

    __tablename__ = "processing_frames"

    run_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("processing_runs.id", ondelete="CASCADE"), primary_key=True
    )
    package_path: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    subframe_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.ForeignKey("subframes.id", ondelete="SET NULL")
    )
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    filter: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.Text)
    weight: Mapped[float | None] = mapped_column(sa.Double())
    integrated: Mapped[bool] = mapped_column(sa.Boolean)
    registered_path: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("processing_frames_subframe", "subframe_id"),)


class ProcessingProduct(Base):
    """A file a run produced: a calibration master, a per-filter integration or a colour image.

    ``frames`` are the package paths it was made from; ``integrated`` is false for a master the
    package already held (used as is).
    """

    __tablename__ = "processing_products"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.ForeignKey("processing_runs.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.Text)
    filter: Mapped[str | None] = mapped_column(sa.Text)
    path: Mapped[str] = mapped_column(sa.Text)
    frames: Mapped[list[str]] = mapped_column(ARRAY(sa.Text))
    integrated: Mapped[bool] = mapped_column(sa.Boolean)

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('master-bias', 'master-dark', 'master-flat', 'master-dark-flat', "
            "'integration', 'combination')",
            name="processing_products_kind",
        ),
        sa.Index("processing_products_run", "run_id"),
    )


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _products(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {
            "kind": f"master-{m['kind']}",
            "filter": m.get("filter"),
            "path": m["path"],
            "frames": list(m.get("frames", [])),
            "integrated": bool(m.get("integrated")),
        }
        for m in result.get("masters", [])
        if m.get("path")
    ]
    rows += [
        {
            "kind": "integration",
            "filter": i.get("filter"),
            "path": i["path"],
            "frames": list(i.get("frames", [])),
            "integrated": True,
        }
        for i in result.get("integrations", [])
    ]
    combination = result.get("combination")
    if combination:
        rows.append(
            {
                "kind": "combination",
                "filter": combination["kind"],
                "path": combination["path"],
                "frames": sorted(combination.get("channels", {}).values()),
                "integrated": True,
            }
        )
    return rows


def record_run(
    connection: Connection,
    manifest: dict[str, Any],
    package_dir: str,
    result: dict[str, Any],
    result_path: str,
) -> int:
    """Store a run's result: the run, one row per light, one per product. Returns the run id."""
    cluster = manifest["cluster"]["name"]
    cluster_id = None
    if "clusters" in Base.metadata.tables:
        clusters = Base.metadata.tables["clusters"]
        cluster_id = connection.execute(
            sa.select(clusters.c.id).where(clusters.c.name == cluster)
        ).scalar_one_or_none()
    status = "success" if result.get("status") == "success" else "failed"
    run_id = connection.execute(
        sa.insert(ProcessingRun)
        .values(
            package_dir=package_dir,
            cluster=cluster,
            cluster_id=cluster_id,
            status=status,
            error=result.get("error"),
            started_at=_time(result.get("started")),
            finished_at=_time(result.get("finished")),
            script_version=result.get("script_version"),
            steps=list(result.get("steps") or []),
            result_path=result_path,
            result=result,
        )
        .returning(ProcessingRun.id)
    ).scalar_one()

    sha_of = {f["path"]: f.get("sha256") for f in manifest["frames"]}
    lights = result.get("lights", [])
    shas = sorted({sha_of.get(light["path"]) for light in lights} - {None})
    subframe_of = dict(
        connection.execute(
            sa.select(Subframe.sha256, Subframe.id).where(Subframe.sha256.in_(shas))
        ).all()
    )
    if lights:
        connection.execute(
            sa.insert(ProcessingFrame),
            [
                {
                    "run_id": run_id,
                    "package_path": light["path"],
                    "subframe_id": subframe_of.get(sha_of.get(light["path"])),
                    "sha256": sha_of.get(light["path"]),
                    "filter": light.get("filter"),
                    "status": light.get("status") or "unknown",
                    "weight": light.get("weight"),
                    "integrated": bool(light.get("integrated")),
                    "registered_path": light.get("registered"),
                }
                for light in lights
            ],
        )
    products = _products(result)
    if products:
        connection.execute(
            sa.insert(ProcessingProduct), [{"run_id": run_id, **row} for row in products]
        )
    return run_id


def integrated_subframes(connection: Connection, run_id: int) -> list[int]:
    """Catalogue ids of the frames a run integrated."""
    return list(
        connection.execute(
            sa.select(ProcessingFrame.subframe_id)
            .where(
                ProcessingFrame.run_id == run_id,
                ProcessingFrame.integrated,
                ProcessingFrame.subframe_id.is_not(None),
            )
            .order_by(ProcessingFrame.subframe_id)
        ).scalars()
    )
