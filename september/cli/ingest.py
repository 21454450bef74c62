"""``september ingest``: catalogue every frame under some folders."""

from __future__ import annotations

import click


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: [ingest] workers in the configuration).",
)
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.pass_obj
def command(config: object, paths: tuple[str, ...], workers: int | None, no_progress: bool) -> None:
    """Catalogue, measure and plate-solve every FITS/TIFF frame under PATH... (recursively).

    Files are only read. Already catalogued files are skipped, moved files get their new path,
    and bad files are recorded with a reason; the exit status is 1 when some files failed.

    Example: september ingest /mnt/share/2026-11-20 -j 2
    """
    from rich.console import Console

    from september.services.ingest import ingest

    summary = ingest(paths, config, workers=workers, progress=not no_progress)
    console = Console()
    console.print(summary.table())
    if summary.failed:
        console.print(
            f"[red]{summary.failed} file(s) could not be catalogued[/red]; they are retried "
            "when they change (`september db failures` lists them)."
        )
        raise SystemExit(1)
