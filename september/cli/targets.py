"""``september targets``: check a targets file, and show each target's progress."""

from __future__ import annotations

from pathlib import Path

import click

TARGETS_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def command() -> None:
    """Targets and desired integration: check the file, show progress from the catalogue.

    Example: september targets show targets.toml
    """


@command.command("check")
@click.argument("targets_file", type=TARGETS_FILE)
def check(targets_file: Path) -> None:
    """Validate a targets file, resolve names offline and list the mosaic panels.

    Example: september targets check targets.toml
    """
    from astropy.coordinates import Angle
    from rich.console import Console
    from rich.table import Table

    from september.sky.targets import load_targets, panels_for

    targets = load_targets(targets_file)
    table = Table(title=f"{targets_file}: {len(targets.targets)} target(s)")
    for name in ("Target", "Panel", "RA", "Dec", "Priority", "Desired hours", "Limits"):
        table.add_column(name)
    for target in targets.targets:
        desired = ", ".join(f"{f} {h:g}" for f, h in target.desired_hours.items())
        limits = f"alt >= {target.min_altitude:g}, moon >= {target.moon_separation:g}"
        mosaic = target.mosaic
        if mosaic is not None and mosaic.field is None and mosaic.rows * mosaic.cols > 1:
            panels = []
            table.add_row(
                target.name,
                f"{mosaic.rows}x{mosaic.cols} (field from catalogue)",
                Angle(target.ra, "deg").to_string("hourangle", sep=":", precision=1),
                Angle(target.dec, "deg").to_string(sep=":", precision=0, alwayssign=True),
                str(target.priority),
                desired,
                limits,
            )
        else:
            panels = panels_for(target)
        for panel in panels:
            table.add_row(
                target.name,
                panel.name,
                Angle(panel.ra, "deg").to_string("hourangle", sep=":", precision=1),
                Angle(panel.dec, "deg").to_string(sep=":", precision=0, alwayssign=True),
                str(target.priority),
                desired,
                limits,
            )
    Console().print(table)
    click.echo("targets file is valid")


@command.command("show")
@click.argument("targets_file", type=TARGETS_FILE)
@click.pass_obj
def show(config: object, targets_file: Path) -> None:
    """Progress per target, panel and filter: accepted hours against desired, rejections.

    Example: september targets show targets.toml
    """
    from rich.console import Console
    from rich.table import Table

    from september.catalogue.database import connect_engine
    from september.services.plan import target_progress
    from september.sky.targets import load_targets

    targets = load_targets(targets_file)
    progress = target_progress(connect_engine(config), targets)
    table = Table(title="Accepted integration (hours)")
    for name in ("Target", "Panel", "Filter", "Accepted", "Desired", "Done", "Frames", "Rejected"):
        table.add_column(name, justify="right" if name in ("Accepted", "Desired") else "left")
    for tp in progress:
        for pp in tp.panels:
            for fp in pp.filters:
                reasons = ", ".join(f"{r} x{n}" for r, n in fp.rejected_reasons.items())
                rejected = f"{fp.rejected_frames}" + (f" ({reasons})" if reasons else "")
                table.add_row(
                    tp.target.name,
                    pp.panel.name,
                    fp.filter,
                    f"{fp.accepted / 3600:.2f}",
                    f"{fp.desired / 3600:.2f}",
                    f"{fp.completion:.0%}",
                    str(fp.accepted_frames),
                    rejected,
                )
    console = Console()
    console.print(table)
    for tp in progress:
        extra = []
        if tp.outside_frames:
            extra.append(f"{tp.outside_frames} light(s) nearby fall in no panel")
        if tp.other_filter_frames:
            extra.append(f"{tp.other_filter_frames} in filters not wanted")
        line = f"{tp.target.name}: {tp.completion:.0%} complete"
        console.print(line + (f" ({'; '.join(extra)})" if extra else ""))
