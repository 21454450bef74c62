"""``september status``: is the watch daemon alive, and how is the catalogue doing?"""

from __future__ import annotations

import click


@click.command()
@click.option("--check", is_flag=True, help="Exit 1 unless the watch daemon is alive.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_obj
def command(config: object, check: bool, as_json: bool) -> None:
    """Show the watch daemon's heartbeat, the last frame ingested, the queue length and the
    errors of the last 24 hours.

    Example: september status
    """
    import json

    from rich.console import Console
    from rich.table import Table

    from september.services.status import current_status

    status = current_status(config)
    health = status.catalogue
    if as_json:
        click.echo(
            json.dumps(
                {
                    "daemon": status.daemon,
                    "daemon_alive": status.daemon_alive,
                    "heartbeat_age_s": status.heartbeat_age,
                    "frames": health.frames,
                    "lights_solved": health.lights_solved,
                    "lights_unsolved": health.lights_unsolved,
                    "last_ingested": health.last_ingested_path,
                    "errors_24h": health.recent_failures,
                },
                indent=2,
                default=str,
            )
        )
    else:
        table = Table(title="september status", show_header=False)
        daemon = status.daemon or {}
        if status.daemon is None:
            table.add_row("watch daemon", "never ran")
        else:
            state = "alive" if status.daemon_alive else f"not running ({daemon.get('state')})"
            table.add_row("watch daemon", f"{state}, pid {daemon.get('pid')}")
            table.add_row("heartbeat", f"{status.heartbeat_age:.0f} s ago")
            table.add_row("observer", str(daemon.get("observer")))
            table.add_row(
                "queue",
                f"{daemon.get('queue_length', 0)} waiting, {daemon.get('candidates', 0)} settling",
            )
        table.add_row(
            "frames", ", ".join(f"{n} {t}" for t, n in sorted(health.frames.items())) or "none"
        )
        table.add_row(
            "lights solved", f"{health.lights_solved} ({health.lights_unsolved} unsolved)"
        )
        table.add_row(
            "last ingested", f"{health.last_ingested_path or '-'} {health.last_ingested_at or ''}"
        )
        errors = health.recent_failures
        table.add_row(
            "errors (24 h)", ", ".join(f"{n} {r}" for r, n in sorted(errors.items())) or "none"
        )
        Console().print(table)
    if check and not status.daemon_alive:
        raise click.exceptions.Exit(1)
