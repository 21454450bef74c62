"""Turn PostgreSQL's JIT compiler off for the catalogue database.

With JIT on, a prepared Q3C cone query switches after a few runs to a cached generic plan that
JIT-compiles on every execution: tens of milliseconds instead of two. Skipped, with a notice,
when the migrating role does not own the database.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        DO $$
        BEGIN
            EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'september: could not turn JIT off (not the database owner); '
                         'ask the owner to run ALTER DATABASE ... SET jit = off';
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET jit', current_database()); END $$"
    )
