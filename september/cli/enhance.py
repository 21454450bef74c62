"""``september enhance``: the AstroStakos enhancement of a stacked linear 16-bit TIFF."""

from __future__ import annotations

import os
from pathlib import Path

import click

from september.errors import SeptemberError


def _pick_file() -> Path:
    """Ask for the TIFF in a Tk file dialog (needs a display)."""
    if not os.environ.get("DISPLAY") and os.name != "nt":
        raise SeptemberError(
            "--pick needs a graphical display ($DISPLAY is not set); give the TIFF path instead"
        )
    try:
        import tkinter
        from tkinter import filedialog
    except ImportError as err:
        raise SeptemberError(
            "--pick needs Tk (python3-tk), which is not installed; give the TIFF path instead"
        ) from err
    root = tkinter.Tk()
    root.withdraw()
    chosen = filedialog.askopenfilename(
        title="Choose the stacked linear TIFF (e.g. Autosave.tif)",
        filetypes=[("TIFF images", "*.tif *.tiff"), ("All files", "*")],
    )
    root.destroy()
    if not chosen:
        raise SeptemberError("no file was chosen")
    return Path(chosen)


@click.command()
@click.argument(
    "image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output TIFF (default: final_star_enhanced_rgb16.tif beside IMAGE).",
)
@click.option("--stretch", type=float, default=1.0, show_default=True, help="Stretch strength.")
@click.option(
    "--star-boost", type=float, default=1.0, show_default=True, help="Extra gain of faint stars."
)
@click.option("--tile-size", type=int, default=None, help="Background tile size in px.")
@click.option("--sharpen", type=float, default=0.35, show_default=True, help="0 turns it off.")
@click.option("--preview", is_flag=True, help="Also write a JPEG preview beside the TIFF.")
@click.option("--assume-linear", is_flag=True, help="Skip the check for stretched input.")
@click.option("--pick", is_flag=True, help="Choose IMAGE in a file dialog (needs a display).")
@click.pass_obj
def command(
    config: object,
    image: Path | None,
    out_file: Path | None,
    stretch: float,
    star_boost: float,
    tile_size: int | None,
    sharpen: float,
    preview: bool,
    assume_linear: bool,
    pick: bool,
) -> None:
    """Enhance a stacked linear TIFF (e.g. DeepSkyStacker's Autosave.tif) into a finished image.

    Background extraction from overlapping tiles, star detection and a shared star mask, faint-star
    boost with star colours kept, asinh stretch and mild sharpening. 8-bit or stretched input is
    refused.

    Example: september enhance Autosave.tif --star-boost 1.5
    """
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    from september.engine.enhance import (
        EnhanceOptions,
        enhance,
        load_linear_tiff,
        write_preview,
        write_tiff16,
    )
    from september.engine.pipeline import FINAL_NAME

    if pick:
        image = _pick_file()
    if image is None:
        raise click.UsageError("give IMAGE (a 16-bit linear TIFF) or --pick")
    out = out_file or image.with_name(FINAL_NAME)
    options = EnhanceOptions(
        stretch=stretch, star_boost=star_boost, tile_size=tile_size, sharpen=sharpen
    )
    with Progress(SpinnerColumn(), "{task.description}", TimeElapsedColumn()) as bar:
        task = bar.add_task(f"reading {image.name}")
        rgb = load_linear_tiff(image, assume_linear=assume_linear)
        bar.update(task, description="enhancing")
        result = enhance(rgb, options)
        bar.update(task, description=f"writing {out.name}")
        write_tiff16(out, result.image)
        if preview:
            write_preview(out.with_suffix(".jpg"), result.image)
    click.echo(f"wrote {out}")
