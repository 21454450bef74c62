"""``september catalog``: the reference star catalogue used to grade frames."""

from __future__ import annotations

import click


@click.group()
def command() -> None:
    """The reference star catalogue (Gaia) in the database.

    Example: september catalog load --source gaia-bundled
    """


@command.command("load")
@click.option(
    "--source",
    default="gaia-bundled",
    show_default=True,
    help="gaia-bundled (offline, G <= 10), gaia-archive (online, deeper, for the imaged "
    "sky) or a CSV/FITS file with ra, dec and mag columns.",
)
@click.option("--ra", type=float, help="Only stars around this right ascension (deg).")
@click.option("--dec", type=float, help="Only stars around this declination (deg).")
@click.option("--radius", type=float, help="Radius of that cone (deg).")
@click.pass_obj
def load(
    config: object, source: str, ra: float | None, dec: float | None, radius: float | None
) -> None:
    """Load reference stars; loading the same source again adds nothing.

    Example: september catalog load --source gaia-archive --ra 83.6 --dec 22.0 --radius 2
    """
    from rich.progress import Progress

    from september.catalogue.database import connect_engine
    from september.errors import SeptemberError
    from september.services.catalog import load_catalogue

    given = [v is not None for v in (ra, dec, radius)]
    if any(given) and not all(given):
        raise SeptemberError("give --ra, --dec and --radius together (degrees)")
    engine = connect_engine(config)
    with Progress(transient=True) as bar:
        task = bar.add_task(f"loading {source}", total=None)
        result = load_catalogue(
            engine,
            source,
            ra=ra,
            dec=dec,
            radius=radius,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    click.echo(f"{result.origin}: {result.read} stars read, {result.inserted} new in the catalogue")


@command.command("status")
@click.pass_obj
def status(config: object) -> None:
    """Count the loaded reference stars per source.

    Example: september catalog status
    """
    from september.catalogue.database import connect_engine
    from september.services.catalog import describe

    rows = describe(connect_engine(config))
    if not rows:
        click.echo("no reference stars loaded; run `september catalog load`")
    for origin, count in rows:
        click.echo(f"{origin}: {count} stars")
