"""Alembic environment: migrations run against the URL september hands over in the config."""

from alembic import context
from sqlalchemy import create_engine, pool

from september.catalogue.schema import metadata

target_metadata = metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    connectable = context.config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
