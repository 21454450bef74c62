"""``september grade``: accept or reject light frames by quality."""

from __future__ import annotations

import click


@click.command()
@click.option("--regrade", is_flag=True, help="Measure every frame again, not only the new ones.")
@click.option(
    "--override",
    nargs=2,
    type=(int, click.Choice(["accepted", "rejected", "auto"])),
    default=None,
    metavar="ID GRADE",
    help="Set a frame's grade by hand (accepted|rejected; auto clears it). It sticks.",
)
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.pass_obj
def command(
    config: object, regrade: bool, override: tuple[int, str] | None, no_progress: bool
) -> None:
    """Grade light frames: transparency against the star catalogue, trailing, off-target, FWHM
    and eccentricity limits, and N.I.N.A.-like comparisons with each frame's group.

    Thresholds are in the [grade] section of the configuration; grades and reasons are stored
    on the frames' rows (columns grade, grade_reasons). Re-running after a configuration change
    re-decides every frame.

    Example: september grade --override 42 accepted
    """
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from september.catalogue.database import connect_engine
    from september.services.grade import grade
    from september.services.grade import override as set_override

    engine = connect_engine(config)
    if override is not None:
        frame_id, value = override
        set_override(engine, frame_id, None if value == "auto" else value)
        click.echo(f"frame {frame_id}: grade set to {value} by hand")
        return
    with Progress(transient=True, disable=no_progress) as bar:
        task = bar.add_task("measuring frames", total=None)
        summary = grade(
            config,
            engine,
            regrade=regrade,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    table = Table(title="Grading summary")
    table.add_column("")
    table.add_column("frames", justify="right")
    for label, count in summary.rows():
        table.add_row(label, str(count))
    Console().print(table)
