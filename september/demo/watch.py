"""The demo's watch step: show the daemon cataloguing frames that arrive while it runs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import click

from september.config import Config

WAIT_LIMIT = 300.0  # seconds to wait for the new frames before the demo gives up on them


def watch_demo(config: Config | None, share: Path, *, seed: int = 1, frames: int = 3) -> int:
    """Start ``september watch`` on ``share`` (in a background thread), let the simulator drop
    ``frames`` more lights (plus calibration) into it, wait until each new file is catalogued
    or recorded as failed, then stop the daemon. Returns how many new frames were catalogued."""
    from september.catalogue import frames as catalogue_frames
    from september.catalogue.database import connect_engine
    from september.config import load_config
    from september.daemon.ingest_pool import IngestPool
    from september.daemon.watch import Watcher, WatchOptions
    from september.services.ingest import IngestOptions
    from september.services.status import watch_status_path
    from september.sim import simulate

    config = config or load_config()
    engine = connect_engine(config)
    pool = IngestPool(IngestOptions.from_config(config), workers=1)
    options = WatchOptions(settle=1.0, poll_interval=1.0, observer="polling", heartbeat=1.0)
    watcher = Watcher(share, pool, watch_status_path(config), options)
    thread = threading.Thread(target=watcher.run, name="september-watch", daemon=True)
    click.echo(f"Starting the watch daemon on {share} (polling every 1 s) ...")
    thread.start()
    try:
        while watcher.status.state != "running" and thread.is_alive():
            time.sleep(0.1)
        arrivals = share / "arriving"
        click.echo(
            f"The simulator drops {frames} more light frames and calibration into {arrivals}"
        )
        result = simulate(
            "crab",
            arrivals,
            scale="small",
            seed=seed + 1000,
            nights=1,
            frames=frames,
            filters=("L",),
            calibration_frames=1,
        )
        new = [os.path.abspath(arrivals / f.path) for f in result.frames]
        deadline = time.monotonic() + WAIT_LIMIT
        catalogued = handled = shown = 0
        while thread.is_alive() and time.monotonic() < deadline:
            with engine.connect() as connection:
                known = catalogue_frames.known_files(connection, os.path.abspath(arrivals))
            handled = sum(path in known for path in new)
            catalogued = sum(path in known and not known[path].failed for path in new)
            if handled != shown:
                click.echo(f"  watcher: {handled}/{len(new)} new files handled")
                shown = handled
            if handled == len(new):
                break
            time.sleep(1.0)
        click.echo(
            f"  watcher: {catalogued} of {len(new)} new files catalogued "
            f"({handled - catalogued} recorded as failed)"
        )
    finally:
        watcher.stop()
        thread.join(timeout=120)
        pool.close()
    counts = ", ".join(f"{n} {k}" for k, n in sorted(watcher.status.counts.items())) or "nothing"
    click.echo(f"Watch daemon stopped ({counts}); `september status` shows its last heartbeat.")
    return catalogued
