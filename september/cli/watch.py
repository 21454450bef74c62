"""``september watch``: follow the capture share and catalogue frames as they arrive."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.command()
@click.argument("share", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-j", "--workers", type=int, help="Ingest worker processes (default: config).")
@click.option(
    "--observer",
    type=click.Choice(["auto", "polling", "inotify"]),
    default="auto",
    show_default=True,
    help="auto polls on NFS/SMB shares (inotify misses other machines' writes).",
)
@click.option(
    "--interval",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between polls of a network share.",
)
@click.option(
    "--settle",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds a file must stay unchanged before it is ingested.",
)
@click.pass_obj
def command(
    config: object,
    share: Path | None,
    workers: int | None,
    observer: str,
    interval: float,
    settle: float,
) -> None:
    """Watch SHARE (default: the configured share) and ingest each complete new frame.

    On start it catches up with everything that arrived while it was down. SIGTERM or Ctrl-C
    stops it after the batch in hand. Logs are JSON lines on stderr; `september status` shows
    its heartbeat.

    Example: september watch /mnt/telescope --observer polling --interval 15
    """
    from september.catalogue.database import database_url
    from september.catalogue.migrate import upgrade
    from september.daemon.ingest_pool import IngestPool
    from september.daemon.watch import Watcher, WatchOptions
    from september.errors import ConfigError
    from september.services.ingest import IngestOptions
    from september.services.status import watch_status_path

    root = share or config.paths.share
    if root is None:
        raise ConfigError("no share to watch: give a path or set [paths] share / SEPTEMBER_SHARE")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    upgrade(database_url(config))
    pool = IngestPool(IngestOptions.from_config(config), workers or config.ingest.workers)
    options = WatchOptions(settle=settle, poll_interval=interval, observer=observer)
    watcher = Watcher(Path(root), pool, watch_status_path(config), options)
    watcher.install_signal_handlers()
    try:
        status = watcher.run()
    finally:
        pool.close()
    click.echo(f"september watch stopped: {status.counts}", err=True)
