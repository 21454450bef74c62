"""``september plan``: tasking for the coming night(s), as an Ekos scheduler list or CSV/JSON."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click


def _date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD)") from err


@click.command()
@click.option(
    "--targets",
    "targets_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Targets file (TOML) with desired hours per filter.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the tasking; one sub-folder per night.",
)
@click.option(
    "--nights",
    type=click.IntRange(1, 30),
    default=1,
    show_default=True,
    help="Nights to plan; what does not fit one night carries over to the next.",
)
@click.option("--date", "start", help="Evening of the first night, YYYY-MM-DD (default: today).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["esl", "csv", "json"]),
    default="esl",
    show_default=True,
    help="esl: Ekos scheduler list + sequence queues; csv/json: rows for other schedulers.",
)
@click.pass_obj
def command(
    config: object, targets_file: Path, out_dir: Path, nights: int, start: str | None, fmt: str
) -> None:
    """Plan the coming night(s): what each target, panel and filter still needs.

    Reads progress from the catalogue, works out which panels are observable (darkness, altitude,
    Moon) at the configured [site], and writes counts sized to cover what is missing.

    Example: september plan --targets targets.toml --out ~/ekos/plans --nights 2
    """
    from rich.console import Console
    from rich.table import Table

    from september.catalogue.database import connect_engine
    from september.services.plan import plan_nights, target_progress, write_plan
    from september.sky.targets import load_targets

    first = _date(start)
    targets = load_targets(targets_file)
    console = Console()
    with console.status("Reading progress from the catalogue..."):
        progress = target_progress(connect_engine(config), targets)
    with console.status("Working out observability..."):
        plan = plan_nights(config, progress, first, nights)
    for night in plan.nights:
        dark = night.night
        if dark.dusk is None:
            title = f"{night.date}: no astronomical darkness"
        else:
            title = (
                f"{night.date}: dark {dark.dusk:%H:%M}-{dark.dawn:%H:%M} UTC "
                f"({dark.hours:.1f} h), Moon {dark.moon_illumination:.0%}"
            )
        table = Table(title=title)
        for name in ("Job", "Filter", "Exposure", "Count", "Hours", "Done before"):
            table.add_column(name)
        for task in night.tasks:
            for e in task.exposures:
                table.add_row(
                    task.job_name,
                    e.filter,
                    f"{e.exposure:g} s",
                    str(e.count),
                    f"{e.seconds / 3600:.2f}",
                    f"{task.completion:.0%}",
                )
        console.print(table)
        for label, reason in night.skipped:
            console.print(f"  skipped {label}: {reason}")
    written = write_plan(plan, out_dir, config, fmt)
    for path in written:
        if path.suffix != ".esq":
            click.echo(f"wrote {path}")
    if fmt == "esl" and written:
        click.echo(
            "Load it in Ekos (Scheduler > Open) or over D-Bus: qdbus org.kde.kstars "
            "/KStars/Ekos/Scheduler org.kde.kstars.Ekos.Scheduler.loadScheduler <file.esl>"
        )
