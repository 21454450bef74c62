"""Reference star catalogue (q3c-indexed) and frame grades with their quality metrics.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GRADE_METRICS = (
    "fwhm_arcsec",
    "transparency",
    "zero_point",
    "limiting_mag",
    "catalogue_fraction",
    "snr_weight",
    "trail_score",
    "background_gradient",
    "off_target_deg",
)


def upgrade() -> None:
    op.create_table(
        "stars",
        sa.Column("source_id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("ra", sa.Double(), nullable=False),
        sa.Column("dec", sa.Double(), nullable=False),
        sa.Column("mag", sa.REAL(), nullable=False),
        sa.Column("pmra", sa.REAL(), nullable=True),
        sa.Column("pmdec", sa.REAL(), nullable=True),
        sa.Column("origin", sa.Text(), nullable=False),
    )
    op.execute("CREATE INDEX stars_q3c ON stars (q3c_ang2ipix(ra, dec))")
    op.create_index("stars_mag", "stars", ["mag"])

    op.add_column("subframes", sa.Column("grade", sa.Text(), nullable=True))
    op.add_column(
        "subframes", sa.Column("grade_reasons", postgresql.ARRAY(sa.Text()), nullable=True)
    )
    op.add_column("subframes", sa.Column("grade_override", sa.Text(), nullable=True))
    op.add_column("subframes", sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True))
    for name in GRADE_METRICS:
        op.add_column("subframes", sa.Column(name, sa.Double(), nullable=True))
    op.add_column("subframes", sa.Column("matched_stars", sa.Integer(), nullable=True))
    op.create_check_constraint("subframes_grade", "subframes", "grade IN ('accepted', 'rejected')")
    op.create_check_constraint(
        "subframes_grade_override", "subframes", "grade_override IN ('accepted', 'rejected')"
    )


def downgrade() -> None:
    op.drop_constraint("subframes_grade_override", "subframes", type_="check")
    op.drop_constraint("subframes_grade", "subframes", type_="check")
    for name in ("matched_stars", *reversed(GRADE_METRICS)):
        op.drop_column("subframes", name)
    for name in ("graded_at", "grade_override", "grade_reasons", "grade"):
        op.drop_column("subframes", name)
    op.drop_index("stars_mag", table_name="stars")
    op.execute("DROP INDEX stars_q3c")
    op.drop_table("stars")
