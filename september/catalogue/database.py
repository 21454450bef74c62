"""Connecting to the catalogue database: the configured URL, or september's private cluster."""

from __future__ import annotations

import functools
import os

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from september.catalogue.server import PrivateServer
from september.config import Config
from september.errors import DatabaseError


def private_server(config: Config) -> PrivateServer:
    """The private cluster that lives under the configured data directory."""
    return PrivateServer(config.paths.data_dir / "postgres")


def database_url(config: Config) -> str:
    """The configured database URL, starting the private cluster when none is set."""
    url = config.database.url
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return private_server(config).ensure_running()


@functools.cache
def _engine_for(url: str, pid: int) -> Engine:
    del pid  # part of the cache key: a forked worker must not reuse its parent's pool
    return sa.create_engine(url, pool_pre_ping=True, future=True)


def engine_for(url: str) -> Engine:
    """A shared SQLAlchemy engine per URL and process."""
    return _engine_for(url, os.getpid())


def connect_engine(config: Config) -> Engine:
    """An engine for the configured catalogue, checked to answer and to have q3c."""
    url = database_url(config)
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as err:
        raise DatabaseError(
            f"cannot connect to the catalogue database ({engine.url.render_as_string()}): "
            f"{err.orig}. Check SEPTEMBER_DATABASE_URL or unset it to use the private cluster."
        ) from err
    return engine
