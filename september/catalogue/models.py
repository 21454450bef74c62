"""SQLAlchemy models of the catalogue tables (the migrations in ``migrations/`` create them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["SOLVE_STATUSES", "Base", "IngestFailure", "Subframe"]

SOLVE_STATUSES = ("solved", "failed", "skipped")
FRAME_TYPES = ("light", "bias", "dark", "flat", "dark-flat")

_FLOAT = sa.Double()


class Base(DeclarativeBase):
    """Base of every catalogue table."""


def _now() -> sa.ColumnElement[datetime]:
    return sa.func.now()


class Subframe(Base):
    """One catalogued frame: file identity, normalised header, plate solution, star summary.

    ``ra``/``dec`` are the solved centre (J2000 degrees; NULL for calibration and unsolved frames)
    and carry the Q3C index. ``corners`` is the footprint as ``[ra0, dec0, ..., ra3, dec3]`` in
    pixel-corner order; ``radius_deg`` is the centre-to-farthest-corner distance used as the
    coarse search radius of the covering query. ``stars`` holds the brightest detections packed
    as little-endian float32 rows ``(x, y, flux, fwhm)`` (0-based pixels), for later cross-match.
    ``mtime`` is the file's modification time in seconds since the epoch, as ``os.stat`` gives it.
    """

    __tablename__ = "subframes"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    path: Mapped[str] = mapped_column(sa.Text, unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    mtime: Mapped[float] = mapped_column(_FLOAT)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    frame_type: Mapped[str] = mapped_column(sa.Text)
    object: Mapped[str | None] = mapped_column(sa.Text)
    filter: Mapped[str | None] = mapped_column(sa.Text)
    exposure: Mapped[float | None] = mapped_column(_FLOAT)
    gain: Mapped[float | None] = mapped_column(_FLOAT)
    offset: Mapped[float | None] = mapped_column(_FLOAT)
    xbinning: Mapped[int | None] = mapped_column(sa.Integer)
    ybinning: Mapped[int | None] = mapped_column(sa.Integer)
    ccd_temp: Mapped[float | None] = mapped_column(_FLOAT)
    set_temp: Mapped[float | None] = mapped_column(_FLOAT)
    camera: Mapped[str | None] = mapped_column(sa.Text)
    telescope: Mapped[str | None] = mapped_column(sa.Text)
    focal_length: Mapped[float | None] = mapped_column(_FLOAT)
    pixel_size: Mapped[float | None] = mapped_column(_FLOAT)
    date_obs: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    pier_side: Mapped[str | None] = mapped_column(sa.Text)
    header_ra: Mapped[float | None] = mapped_column(_FLOAT)
    header_dec: Mapped[float | None] = mapped_column(_FLOAT)
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    capture_software: Mapped[str | None] = mapped_column(sa.Text)
    extras: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    wcs: Mapped[str | None] = mapped_column(sa.Text)
    ra: Mapped[float | None] = mapped_column(_FLOAT)
    dec: Mapped[float | None] = mapped_column(_FLOAT)
    pixel_scale: Mapped[float | None] = mapped_column(_FLOAT)
    rotation: Mapped[float | None] = mapped_column(_FLOAT)
    parity: Mapped[str | None] = mapped_column(sa.Text)
    width_deg: Mapped[float | None] = mapped_column(_FLOAT)
    height_deg: Mapped[float | None] = mapped_column(_FLOAT)
    radius_deg: Mapped[float | None] = mapped_column(_FLOAT)
    corners: Mapped[list[float] | None] = mapped_column(ARRAY(_FLOAT))
    solve_status: Mapped[str] = mapped_column(sa.Text)
    solve_reason: Mapped[str | None] = mapped_column(sa.Text)
    star_count: Mapped[int | None] = mapped_column(sa.Integer)
    fwhm: Mapped[float | None] = mapped_column(_FLOAT)
    hfr: Mapped[float | None] = mapped_column(_FLOAT)
    eccentricity: Mapped[float | None] = mapped_column(_FLOAT)
    background: Mapped[float | None] = mapped_column(_FLOAT)
    background_rms: Mapped[float | None] = mapped_column(_FLOAT)
    stars: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    ingested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    # Grading (migration 0003): 'accepted' | 'rejected' | NULL (not graded yet); the reasons are
    # short codes such as 'transparency' or 'group:fwhm'; grade_override is set by hand and wins.
    grade: Mapped[str | None] = mapped_column(sa.Text)
    grade_reasons: Mapped[list[str] | None] = mapped_column(ARRAY(sa.Text))
    grade_override: Mapped[str | None] = mapped_column(sa.Text)
    graded_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    fwhm_arcsec: Mapped[float | None] = mapped_column(_FLOAT)  # arcsec
    transparency: Mapped[float | None] = mapped_column(_FLOAT)  # flux ratio to the best frames
    zero_point: Mapped[float | None] = mapped_column(_FLOAT)  # catalogue mag of a 1 ADU/s star
    limiting_mag: Mapped[float | None] = mapped_column(_FLOAT)  # 5-sigma point source, mag
    catalogue_fraction: Mapped[float | None] = mapped_column(_FLOAT)  # 0..1
    snr_weight: Mapped[float | None] = mapped_column(_FLOAT)  # SNR^2 of a G = 15 star
    trail_score: Mapped[float | None] = mapped_column(_FLOAT)  # mean ellipticity vector, 0..1
    background_gradient: Mapped[float | None] = mapped_column(_FLOAT)  # ADU across the frame
    off_target_deg: Mapped[float | None] = mapped_column(_FLOAT)  # solved centre to target, deg
    matched_stars: Mapped[int | None] = mapped_column(sa.Integer)  # catalogue matches

    __table_args__ = (
        sa.CheckConstraint(
            "solve_status IN ('solved', 'failed', 'skipped')", name="subframes_solve_status"
        ),
        sa.CheckConstraint(
            "frame_type IN ('light', 'bias', 'dark', 'flat', 'dark-flat')",
            name="subframes_frame_type",
        ),
        sa.CheckConstraint(
            "(ra IS NULL) = (dec IS NULL) AND (ra IS NULL OR solve_status = 'solved')",
            name="subframes_position_means_solved",
        ),
        sa.Index("subframes_q3c", sa.func.q3c_ang2ipix(sa.column("ra"), sa.column("dec"))),
        sa.Index("subframes_radius_deg", "radius_deg"),
        sa.Index("subframes_date_obs", "date_obs"),
    )


class IngestFailure(Base):
    """A file that could not be catalogued, retried only when its size or mtime changes.

    ``reason`` is a short code (``truncated``, ``unsolved``...); ``message`` is for people.
    """

    __tablename__ = "ingest_failures"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    path: Mapped[str] = mapped_column(sa.Text, unique=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    mtime: Mapped[float] = mapped_column(_FLOAT)
    reason: Mapped[str] = mapped_column(sa.Text)
    message: Mapped[str] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default=sa.text("1"))
    first_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
    last_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=_now())
