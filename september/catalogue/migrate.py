"""Applying the Alembic migrations in ``migrations/`` to a catalogue database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig

from september.errors import DatabaseError

_REPO = Path(__file__).resolve().parents[2]


def alembic_config(url: str) -> AlembicConfig:
    """Alembic's configuration for september's migrations, pointed at ``url``."""
    ini = _REPO / "alembic.ini"
    if not ini.exists():
        raise DatabaseError(
            f"september's migrations were not found beside the package ({ini}); install "
            "september from its source tree (`pip install -e .`)."
        )
    config = AlembicConfig(str(ini))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest schema)."""
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when it has no september schema."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
