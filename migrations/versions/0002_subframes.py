"""Catalogue tables: subframes (Q3C-indexed solved centres) and ingest_failures.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _float(name: str) -> sa.Column:
    return sa.Column(name, sa.Double(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "subframes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Double(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("frame_type", sa.Text(), nullable=False),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        _float("exposure"),
        _float("gain"),
        _float("offset"),
        sa.Column("xbinning", sa.Integer(), nullable=True),
        sa.Column("ybinning", sa.Integer(), nullable=True),
        _float("ccd_temp"),
        _float("set_temp"),
        sa.Column("camera", sa.Text(), nullable=True),
        sa.Column("telescope", sa.Text(), nullable=True),
        _float("focal_length"),
        _float("pixel_size"),
        sa.Column("date_obs", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pier_side", sa.Text(), nullable=True),
        _float("header_ra"),
        _float("header_dec"),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("capture_software", sa.Text(), nullable=True),
        sa.Column(
            "extras",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("wcs", sa.Text(), nullable=True),
        _float("ra"),
        _float("dec"),
        _float("pixel_scale"),
        _float("rotation"),
        sa.Column("parity", sa.Text(), nullable=True),
        _float("width_deg"),
        _float("height_deg"),
        _float("radius_deg"),
        sa.Column("corners", postgresql.ARRAY(sa.Double()), nullable=True),
        sa.Column("solve_status", sa.Text(), nullable=False),
        sa.Column("solve_reason", sa.Text(), nullable=True),
        sa.Column("star_count", sa.Integer(), nullable=True),
        _float("fwhm"),
        _float("hfr"),
        _float("eccentricity"),
        _float("background"),
        _float("background_rms"),
        sa.Column("stars", sa.LargeBinary(), nullable=True),
        sa.Column(
            "ingested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.UniqueConstraint("path", name="subframes_path_key"),
        sa.UniqueConstraint("sha256", name="subframes_sha256_key"),
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
    )
    # The index the user's `q3c_radial_query(ra, dec, ...)` uses; see docs/catalogue.md for
    # `september db maintain` (CLUSTER on it + ANALYZE).
    op.execute("CREATE INDEX subframes_q3c ON subframes (q3c_ang2ipix(ra, dec))")
    op.create_index("subframes_radius_deg", "subframes", ["radius_deg"])
    op.create_index("subframes_date_obs", "subframes", ["date_obs"])

    op.create_table(
        "ingest_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "first_seen",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_seen",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.UniqueConstraint("path", name="ingest_failures_path_key"),
    )


def downgrade() -> None:
    op.drop_table("ingest_failures")
    op.drop_table("subframes")
