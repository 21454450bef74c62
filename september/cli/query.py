"""``september query``: frames near a sky position, covering it, or matching filters."""

from __future__ import annotations

import csv
import json
import sys

import click

from september.cli._parse import angle, when

FORMATS = ("table", "csv", "json")
TABLE_COLUMNS = (
    "id",
    "date_obs",
    "frame_type",
    "object",
    "filter",
    "exposure",
    "ra",
    "dec",
    "solve_status",
    "fwhm",
    "path",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.5g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def _print(records: list, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if fmt == "csv":
        rows = [r.to_dict(with_wcs=False) for r in records]
        if not rows:
            return
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            row["extras"] = json.dumps(row["extras"])
            row["corners"] = json.dumps(row["corners"]) if row["corners"] else ""
            writer.writerow(row)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(records)} frame(s)")
    for name in TABLE_COLUMNS:
        table.add_column(name, overflow="fold")
    for record in records:
        table.add_row(*(_cell(getattr(record, name)) for name in TABLE_COLUMNS))
    Console().print(table)


@click.command()
@click.option("--ra", help="Right ascension: degrees (83.6) or sexagesimal hours (05:34:32).")
@click.option("--dec", help="Declination: degrees (22.01) or sexagesimal (+22:00:52).")
@click.option("--radius", default="1", show_default=True, help="Cone radius (degrees or 30m).")
@click.option("--target", help="An object name resolved offline (M1, NGC 7000, Crab).")
@click.option("--covering", is_flag=True, help="Frames whose footprint contains the point.")
@click.option("--type", "frame_type", help="Frame type: light, bias, dark, flat, dark-flat.")
@click.option("--filter", "filter_name", help="Filter name (case ignored).")
@click.option("--since", help="Observed at or after this UTC date/time.")
@click.option("--until", help="Observed before this UTC date/time (a date includes that day).")
@click.option("--object", "object_name", help="OBJECT header; * is a wildcard (case ignored).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many frames.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--count", is_flag=True, help="Print only the number of frames.")
@click.pass_obj
def command(
    config: object,
    ra: str | None,
    dec: str | None,
    radius: str,
    target: str | None,
    covering: bool,
    frame_type: str | None,
    filter_name: str | None,
    since: str | None,
    until: str | None,
    object_name: str | None,
    limit: int | None,
    fmt: str,
    count: bool,
) -> None:
    """List catalogued frames near a sky position, covering it, or matching filters.

    Example: september query --ra 83.6 --dec 22 --radius 5 --type light --format csv
    """
    from september.catalogue.database import connect_engine
    from september.catalogue.frames import FrameFilters
    from september.services import query

    ra_deg, dec_deg = angle(ra, hours=True), angle(dec, hours=False)
    if target:
        if ra_deg is not None or dec_deg is not None:
            raise click.UsageError("give either --target or --ra/--dec, not both")
        from september.sky.names import resolve_name

        ra_deg, dec_deg = resolve_name(target)
    if (ra_deg is None) != (dec_deg is None):
        raise click.UsageError("--ra and --dec go together")
    if covering and ra_deg is None:
        raise click.UsageError("--covering needs a position (--ra/--dec or --target)")
    radius_deg = angle(radius, hours=False)
    filters = FrameFilters(
        frame_type=frame_type,
        filter=filter_name,
        since=when(since, end=False),
        until=when(until, end=True),
        object=object_name,
    )
    engine = connect_engine(config)
    if ra_deg is None:
        records = query.frames_matching(engine, filters)
    elif covering:
        records = query.frames_covering(engine, ra_deg, dec_deg, filters)
    elif count:
        click.echo(query.count_near(engine, ra_deg, dec_deg, radius_deg, filters))
        return
    else:
        records = query.frames_near(engine, ra_deg, dec_deg, radius_deg, filters, limit=limit)
    if limit:
        records = records[:limit]
    if count:
        click.echo(len(records))
        return
    _print(records, fmt)
