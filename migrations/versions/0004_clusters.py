"""Clusters (pointings and mosaic panels) and their member frames.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("panel", sa.Text(), nullable=False),
        sa.Column("rig", sa.Text(), nullable=False),
        sa.Column("ra", sa.Double(), nullable=False),
        sa.Column("dec", sa.Double(), nullable=False),
        sa.Column("width_deg", sa.Double(), nullable=False),
        sa.Column("height_deg", sa.Double(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("clusters_q3c", "clusters", [sa.text("q3c_ang2ipix(ra, dec)")])
    op.create_table(
        "cluster_members",
        sa.Column(
            "subframe_id",
            sa.BigInteger(),
            sa.ForeignKey("subframes.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "cluster_id",
            sa.BigInteger(),
            sa.ForeignKey("clusters.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_index("ix_cluster_members_cluster_id", "cluster_members", ["cluster_id"])


def downgrade() -> None:
    op.drop_table("cluster_members")
    op.drop_table("clusters")
