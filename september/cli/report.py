"""``september report``: the HTML night report."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click


@click.command()
@click.option(
    "--night",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The night, by its evening's date (YYYY-MM-DD).",
)
@click.option("--target", default=None, help="Only frames of this target (OBJECT), e.g. M1.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The HTML file to write (self-contained: images are inlined).",
)
@click.pass_obj
def command(config: object, night: object, target: str | None, out: Path) -> None:
    """Write a night report: quality over time, sky map, best and worst frames, and the
    accepted integration per target and filter. Grade the frames first (`september grade`).

    Example: september report --night 2026-12-16 --out night.html
    """
    from september.catalogue.database import connect_engine
    from september.report.night import write_report

    day: date | None = night.date() if night is not None else None  # type: ignore[attr-defined]
    path = write_report(connect_engine(config), out, night=day, target=target)
    click.echo(f"report written to {path}")
