"""``september export``: one processing package per cluster, with calibration and a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from september.cli._parse import angle, when


@click.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that receives one package per cluster.",
)
@click.option("--ra", help="Centre RA (degrees or 05h34m31s).")
@click.option("--dec", help="Centre Dec (degrees or +22d00m52s).")
@click.option("--radius", type=float, help="Radius in degrees (default 1; 2 with --target).")
@click.option("--target", help="Target name (cluster name, or resolved offline: M31, NGC 7000).")
@click.option("--cluster", "clusters", multiple=True, help="Cluster name (repeatable).")
@click.option("--since", help="First date (UTC, inclusive), e.g. 2026-11-01.")
@click.option("--until", help="Last date (UTC, inclusive), e.g. 2026-11-20.")
@click.option("--filter", "filters", multiple=True, help="Filter (repeatable).")
@click.option("--all-grades", is_flag=True, help="Export rejected and ungraded frames too.")
@click.option(
    "--link",
    type=click.Choice(["hardlink", "symlink", "copy"]),
    help="How files get into the package (default: config; copy is safest).",
)
@click.pass_obj
def command(
    config: object,
    out: Path,
    ra: str | None,
    dec: str | None,
    radius: float | None,
    target: str | None,
    clusters: tuple[str, ...],
    since: str | None,
    until: str | None,
    filters: tuple[str, ...],
    all_grades: bool,
    link: str | None,
) -> None:
    """Write OUT/<cluster>/lights/<filter>/..., OUT/<cluster>/calibration/... and a
    september.json manifest per cluster. Re-running updates the packages incrementally.

    Example: september export --out /fast/M31 --target M31 --filter Ha --filter L
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from september.catalogue.database import connect_engine
    from september.services.export import Selection, export

    if (ra is None) != (dec is None):
        raise click.UsageError("give both --ra and --dec")
    selection = Selection(
        ra=angle(ra, hours=True),
        dec=angle(dec, hours=False),
        radius=radius,
        target=target,
        clusters=clusters,
        since=when(since, end=False),
        until=when(until, end=True),
        filters=filters,
        accepted_only=not all_grades,
    )
    engine = connect_engine(config)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("exporting", total=None)

        def on_plan(files: int, size: int) -> None:
            progress.console.print(f"{files} files, {size / 1e9:.2f} GB to write")
            progress.update(task, total=size)

        summary = export(
            engine,
            config,
            selection,
            out,
            link=link,
            on_plan=on_plan,
            on_file=lambda size: progress.advance(task, size),
        )
    for package in summary.packages:
        click.echo(f"package {package}")
    click.echo(
        f"{summary.lights} lights; {summary.written} files written, {summary.kept} kept, "
        f"{summary.removed} removed; checksums verified"
    )
    if summary.unmatched:
        click.echo(f"{len(summary.unmatched)} lights left out for lack of calibration:", err=True)
        for item in summary.unmatched[:20]:
            click.echo(f"  {item['original_path']}: {item['reason']}", err=True)
