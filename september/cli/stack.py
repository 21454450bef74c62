"""``september stack``: an export package to a finished 16-bit image with the in-repo engine."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: PACKAGE_DIR/stacked).",
)
@click.option(
    "--rejection",
    type=click.Choice(["auto", "none", "percentile", "sigma", "winsorized", "linear-fit"]),
    default="auto",
    show_default=True,
    help="Pixel rejection (auto: percentile <= 6 frames, winsorized >= 8, linear fit >= 25).",
)
@click.option(
    "--weights",
    type=click.Choice(["psf", "noise", "fwhm", "none"]),
    default="psf",
    show_default=True,
    help="Frame weights: psf = 1/(FWHM^2 noise^2), noise = 1/noise^2.",
)
@click.option(
    "--interpolation",
    type=click.Choice(["lanczos4", "cubic", "linear"]),
    default="lanczos4",
    show_default=True,
    help="Registration resampling: lanczos4 keeps stars sharpest; linear smooths the noise.",
)
@click.option("--palette", type=click.Choice(["SHO", "HOO"]), default="SHO", show_default=True)
@click.option("--stretch", type=float, default=1.0, show_default=True, help="Stretch strength.")
@click.option("--star-boost", type=float, default=1.0, show_default=True, help="Faint-star boost.")
@click.option("--tile-size", type=int, default=None, help="Background tile size in px.")
@click.option(
    "--memory",
    type=int,
    default=1024,
    show_default=True,
    help="MB of working memory for one integration chunk.",
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="Lights processed at the same time."
)
@click.option(
    "--linear-only", is_flag=True, help="Stop at the linear masters (no colour or enhancement)."
)
@click.pass_obj
def command(
    config: object,
    package_dir: Path,
    out_dir: Path | None,
    rejection: str,
    weights: str,
    interpolation: str,
    palette: str,
    stretch: float,
    star_boost: float,
    tile_size: int | None,
    memory: int,
    workers: int,
    linear_only: bool,
) -> None:
    """Stack an export package: masters, calibration, registration, integration, colour, enhance.

    Writes final_star_enhanced_rgb16.tif (16-bit RGB), final_preview.jpg, the linear masters
    (32-bit float FITS with rejection maps) and stack.json (what was used and skipped).

    Example: september stack exports/M1 --out /tmp/M1-stacked
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from september.engine.enhance import EnhanceOptions
    from september.engine.pipeline import StackOptions, stack_package

    out = out_dir or package_dir / "stacked"
    options = StackOptions(
        rejection=rejection,
        weights=weights,
        palette=palette,
        memory_limit=memory << 20,
        enhance=EnhanceOptions(stretch=stretch, star_boost=star_boost, tile_size=tile_size),
        finish=not linear_only,
        workers=workers,
        interpolation=interpolation,
    )
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = stack_package(package_dir, out, options, report)
    for name, count in result.frames.items():
        summary = result.integration[name]
        click.echo(
            f"{name}: {count} lights, {summary['rejection']} rejection "
            f"({summary['rejected_low_pct']:.2f}% low, {summary['rejected_high_pct']:.2f}% high)"
        )
    for skipped in result.skipped:
        click.echo(f"skipped {skipped['path']}: {skipped['reason']}")
    for path in (result.final, result.preview, result.masters.get(next(iter(result.frames)))):
        if path:
            click.echo(f"wrote {path}")
