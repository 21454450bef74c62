"""``september simulate``: write a simulated night (frames, calibration and ground truth)."""

from __future__ import annotations

from pathlib import Path

import click

SCENARIO_NAMES = ("crab", "mosaic", "cloudy-night", "calibration-library")


@click.command()
@click.argument("scenario", type=click.Choice(SCENARIO_NAMES))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the frames and the ground truth into.",
)
@click.option(
    "--scale",
    type=click.Choice(["small", "full"]),
    default="small",
    show_default=True,
    help="small: 582x440 px (fast, same field); full: 4656x3520 px, 3.8 um pixels.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option("--nights", type=int, default=None, help="Number of nights (default: scenario's).")
@click.option("--frames", type=int, default=None, help="Light frames per night.")
@click.option("--filters", default=None, help="Comma-separated filters, e.g. L,R,G,B.")
@click.option("--calibration-frames", type=int, default=None, help="Frames per calibration set.")
@click.option(
    "--software",
    type=click.Choice(["ekos", "nina"]),
    default=None,
    help="Capture-software dialect of headers and folders (default: scenario's).",
)
@click.option("--fz", is_flag=True, help="Write tile-compressed .fits.fz files.")
@click.pass_obj
def command(
    config: object,
    scenario: str,
    out_dir: Path,
    scale: str,
    seed: int,
    nights: int | None,
    frames: int | None,
    filters: str | None,
    calibration_frames: int | None,
    software: str | None,
    fz: bool,
) -> None:
    """Simulate an observatory night: FITS frames from real Gaia stars plus ground truth.

    Scenarios: crab (M1, LRGB, several nights), mosaic (2x3 panels of M31, N.I.N.A. style),
    cloudy-night, calibration-library (with decoy calibration frames).

    Example: september simulate crab --out /tmp/night --scale small --frames 20
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from september.sim import simulate

    filter_list = tuple(f.strip() for f in filters.split(",") if f.strip()) if filters else None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task(f"simulating {scenario}", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = simulate(
            scenario,
            out_dir,
            scale=scale,
            seed=seed,
            nights=nights,
            frames=frames,
            filters=filter_list,
            progress=report,
            compress=fz,
            calibration_frames=calibration_frames,
            software=software,
        )
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(result.summary().items()))
    click.echo(f"wrote {counts} to {result.out_dir}")
    for path in result.truth_files:
        click.echo(f"ground truth: {path}")
