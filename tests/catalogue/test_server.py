"""The private PostgreSQL cluster and the migrated schema."""

from __future__ import annotations

import sqlalchemy as sa

from september.catalogue.database import engine_for


def test_template_has_q3c(database_url: str) -> None:
    with engine_for(database_url).connect() as connection:
        version = connection.execute(sa.text("SELECT q3c_version()")).scalar_one()
        distance = connection.execute(sa.text("SELECT q3c_dist(0, 0, 1, 0)")).scalar_one()
    assert version
    assert abs(distance - 1.0) < 1e-9


def test_each_test_gets_its_own_database(database_url: str) -> None:
    engine = engine_for(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE scratch (x int)"))
        count = connection.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE tablename = 'scratch'")
        ).scalar_one()
    assert count == 1


def test_migrations_turn_jit_off(postgres_admin_url: str) -> None:
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    from september.catalogue import migrate

    name = f"september_jit_{uuid.uuid4().hex[:8]}"
    admin = make_url(postgres_admin_url).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(database=name).render_as_string(False)
    try:
        migrate.upgrade(url)
        engine = engine_for(url)
        with engine.connect() as connection:  # the database's own setting, not the server's
            settings = connection.execute(
                sa.text(
                    "SELECT setconfig FROM pg_db_role_setting WHERE setrole = 0 AND setdatabase "
                    "= (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one()
        assert "jit=off" in settings
        engine.dispose()
    finally:
        with psycopg.connect(admin.render_as_string(False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
