"""``september db``: the catalogue database (schema, maintenance, the private server)."""

from __future__ import annotations

import click


@click.group()
def command() -> None:
    """Manage the catalogue database.

    Example: september db upgrade
    """


@command.command()
@click.pass_obj
def upgrade(config: object) -> None:
    """Create or update the catalogue schema (Alembic migrations).

    Example: september db upgrade
    """
    from september.catalogue import migrate
    from september.catalogue.database import database_url

    url = database_url(config)
    migrate.upgrade(url)
    click.echo(f"catalogue schema at revision {migrate.current(url)}")


@command.command()
@click.pass_obj
def status(config: object) -> None:
    """Show the database, its schema revision and how many frames it holds.

    Example: september db status
    """
    import sqlalchemy as sa

    from september.catalogue import migrate
    from september.catalogue.database import connect_engine

    engine = connect_engine(config)
    url = engine.url.render_as_string(hide_password=True)
    revision = migrate.current(engine.url.render_as_string(hide_password=False))
    click.echo(f"database: {url}")
    click.echo(f"schema revision: {revision or 'none (run `september db upgrade`)'}")
    if revision is None:
        return
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT frame_type, solve_status, count(*) FROM subframes "
                "GROUP BY 1, 2 ORDER BY 1, 2"
            )
        ).all()
        failed = connection.execute(sa.text("SELECT count(*) FROM ingest_failures")).scalar_one()
    for frame_type, solve_status, count in rows:
        click.echo(f"  {frame_type:<10} {solve_status:<8} {count}")
    click.echo(f"frames: {sum(r[2] for r in rows)}; files that failed to ingest: {failed}")


@command.command()
@click.option("--libpq", is_flag=True, help="Print a libpq URI (for psql) instead.")
@click.pass_obj
def url(config: object, libpq: bool) -> None:
    """Print the database URL (starting the private server if it is used).

    Example: psql "$(september db url --libpq)"
    """
    from sqlalchemy.engine import make_url

    from september.catalogue.database import database_url

    found = database_url(config)
    if libpq:
        found = make_url(found).set(drivername="postgresql").render_as_string(False)
    click.echo(found)


@command.command()
@click.option("--reason", help="Only failures with this reason code (e.g. truncated).")
@click.pass_obj
def failures(config: object, reason: str | None) -> None:
    """List the files that could not be catalogued, with the reason.

    Example: september db failures --reason truncated
    """
    from september.catalogue import frames
    from september.catalogue.database import connect_engine

    with connect_engine(config).connect() as connection:
        found = frames.failures(connection, reason)
    for failure in found:
        click.echo(f"{failure.reason}\t{failure.attempts}\t{failure.path}\t{failure.message}")
    click.echo(f"{len(found)} file(s)", err=True)


@command.command()
@click.pass_obj
def maintain(config: object) -> None:
    """Re-cluster subframes on its Q3C index and refresh statistics (CLUSTER + ANALYZE).

    Run it now and then as the catalogue grows, when no ingest is running: CLUSTER locks the
    table while it rewrites it.

    Example: september db maintain
    """
    from september.catalogue import frames
    from september.catalogue.database import connect_engine

    with connect_engine(config).begin() as connection:
        frames.maintain(connection)
    click.echo("subframes clustered on subframes_q3c and analysed")


@command.command()
@click.pass_obj
def start(config: object) -> None:
    """Start september's private PostgreSQL server (when no database URL is configured).

    Example: september db start
    """
    from september.catalogue.database import private_server

    click.echo(private_server(config).ensure_running())


@command.command()
@click.pass_obj
def stop(config: object) -> None:
    """Stop september's private PostgreSQL server.

    Example: september db stop
    """
    from september.catalogue.database import private_server

    server = private_server(config)
    server.stop()
    click.echo(f"private PostgreSQL in {server.root} stopped")
