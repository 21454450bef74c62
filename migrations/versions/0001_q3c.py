"""Enable the q3c extension.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS q3c")


def downgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS q3c")
