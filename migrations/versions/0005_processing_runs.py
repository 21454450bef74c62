"""Processing runs of export packages: the run, its lights (integrated or not), its products.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processing_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("tool", sa.Text(), server_default=sa.text("'pixinsight'"), nullable=False),
        sa.Column("package_dir", sa.Text(), nullable=False),
        sa.Column("cluster", sa.Text(), nullable=False),
        sa.Column(
            "cluster_id",
            sa.BigInteger(),
            sa.ForeignKey("clusters.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("script_version", sa.Text(), nullable=True),
        sa.Column("steps", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("result_path", sa.Text(), nullable=False),
        sa.Column("result", postgresql.JSONB(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("status IN ('success', 'failed')", name="processing_runs_status"),
    )
    op.create_index("processing_runs_cluster", "processing_runs", ["cluster"])
    op.create_table(
        "processing_frames",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("processing_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("package_path", sa.Text(), primary_key=True),
        sa.Column(
            "subframe_id",
            sa.BigInteger(),
            sa.ForeignKey("subframes.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("weight", sa.Double(), nullable=True),
        sa.Column("integrated", sa.Boolean(), nullable=False),
        sa.Column("registered_path", sa.Text(), nullable=True),
    )
    op.create_index("processing_frames_subframe", "processing_frames", ["subframe_id"])
    op.create_table(
        "processing_products",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("processing_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("frames", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("integrated", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('master-bias', 'master-dark', 'master-flat', 'master-dark-flat', "
            "'integration', 'combination')",
            name="processing_products_kind",
        ),
    )
    op.create_index("processing_products_run", "processing_products", ["run_id"])


def downgrade() -> None:
    op.drop_table("processing_products")
    op.drop_table("processing_frames")
    op.drop_table("processing_runs")
