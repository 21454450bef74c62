"""The migrations build exactly the schema the models describe, and the user's SQL runs on it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from september.catalogue.database import engine_for
from september.catalogue.schema import metadata

USER_QUERY = "select count(*) from subframes where q3c_radial_query(ra, dec, 83.6, 22, 5);"


def test_migrations_match_models(database_url: str) -> None:
    with engine_for(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_user_query_runs_verbatim_and_uses_the_q3c_index(database_url: str) -> None:
    engine = engine_for(database_url)
    with engine.begin() as connection:
        assert connection.exec_driver_sql(USER_QUERY).scalar_one() == 0
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql("EXPLAIN " + USER_QUERY.rstrip(";"))
        )
    assert "subframes_q3c" in plan


def test_calibration_rows_cannot_carry_a_position(database_url: str) -> None:
    engine = engine_for(database_url)
    insert = sa.text(
        "INSERT INTO subframes (path, size, mtime, sha256, frame_type, width, height, "
        "solve_status, ra, dec) VALUES ('/a', 1, 0, 'x', 'bias', 1, 1, 'skipped', 1, 2)"
    )
    with engine.begin() as connection:
        try:
            connection.execute(insert)
        except sa.exc.IntegrityError:
            return
    raise AssertionError("a calibration frame with a sky position was accepted")
