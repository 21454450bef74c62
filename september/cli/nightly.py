"""``september nightly``: the 06:00 job — ingest the night, grade, cluster and summarise."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("share", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-j", "--workers", type=int, help="Ingest worker processes (default: config).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a tty).")
@click.pass_obj
def command(config: object, share: Path | None, workers: int | None, progress: bool | None) -> None:
    """Ingest everything new on SHARE since the last run, grade it, update the clusters and
    write a short night summary (also saved under the data directory's reports/).

    Run it from the systemd timer or cron at 06:00 (see deploy/README.md).

    Example: september nightly /mnt/telescope
    """
    import sys

    from september.errors import ConfigError
    from september.services.nightly import run_nightly

    root = share or config.paths.share
    if root is None:
        raise ConfigError("no share: give a path or set [paths] share / SEPTEMBER_SHARE")
    show = sys.stderr.isatty() if progress is None else progress
    result = run_nightly(config, Path(root), workers=workers, progress=show)
    click.echo(result.text)
    click.echo(f"summary written to {result.summary_path}", err=True)
    if result.failed:
        raise click.exceptions.Exit(1)
