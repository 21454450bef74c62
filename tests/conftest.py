"""Shared test fixtures: a real PostgreSQL with q3c, one cluster per test worker.

The cluster is september's own private server (the code users run), started in a temporary
folder. The schema is migrated once into a template database; each test that asks for
``database_url`` gets a fresh copy (``CREATE DATABASE ... TEMPLATE ...``), which takes ~0.1 s.
Set SEPTEMBER_TEST_DATABASE_URL to use an existing server instead (its user needs CREATEDB).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from september.catalogue import migrate
from september.catalogue.server import PrivateServer

TEMPLATE = "september_template"


def _worker_number() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """SQLAlchemy URL of a maintenance database on a running PostgreSQL with q3c."""
    external = os.environ.get("SEPTEMBER_TEST_DATABASE_URL")
    if external:
        yield external
        return
    root = Path(tempfile.mkdtemp(prefix="september-test-pg-"))
    root.chmod(0o755)  # the postgres user must enter it when the tests run as root
    server = PrivateServer(root / "cluster", port=55432 + _worker_number(), fast_unsafe=True)
    server.ensure_running()
    try:
        yield server.url("postgres")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url)
    if database:
        parsed = parsed.set(database=database)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_database(postgres_admin_url: str) -> str:
    """Name of a database with september's whole schema, used as a template."""
    name = f"{TEMPLATE}_{_worker_number()}"
    with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return name


@pytest.fixture
def database_url(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh database with the full schema, dropped after the test."""
    name = f"september_test_{uuid.uuid4().hex[:12]}"
    admin = _libpq(postgres_admin_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = make_url(postgres_admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    from september.catalogue.database import engine_for

    engine_for(url.render_as_string(hide_password=False)).dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def new_database(postgres_admin_url: str, template_database: str) -> Iterator:
    """A factory of fresh migrated databases for module- or session-scoped fixtures.

    ``url = new_database("mosaic")`` returns a SQLAlchemy URL; every database made is dropped at
    the end of the session.
    """
    admin = _libpq(postgres_admin_url)
    made: list[str] = []

    def make(label: str = "db") -> str:
        name = f"september_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        made.append(name)
        return make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)

    yield make
    from september.catalogue.database import engine_for

    for name in made:
        url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        engine_for(url).dispose()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
