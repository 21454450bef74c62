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
