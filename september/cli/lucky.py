"""``september lucky``: lucky imaging of the moon, sun and planets from video, and of stars."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

_DRIZZLE = {"off": 1.0, "1.5x": 1.5, "2x": 2.0, "3x": 3.0}


def _progress_bar():
    """A rich progress display and a callback ``(stage, done, total)`` that drives it.

    Without a terminal there is nothing to animate: a null context and no callback are returned,
    and rich is not even imported (it costs a noticeable share of a short run's start-up).
    """
    if not sys.stdout.isatty():
        return contextlib.nullcontext(), None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description:<8}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn()
    )
    tasks: dict[str, int] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        if done == total or done % 10 == 0:
            progress.update(tasks[stage], completed=done, total=total)

    return progress, report


def _calibration_options(function):
    """The --dark and --flat options shared by ``stack`` and ``speckle``."""
    function = click.option(
        "--flat",
        type=click.Path(exists=True, path_type=Path),
        help="Flat frame (file or folder to average).",
    )(function)
    return click.option(
        "--dark",
        type=click.Path(exists=True, path_type=Path),
        help="Dark frame (file or folder to average).",
    )(function)


def _log_path(out: Path, log: Path | None) -> Path:
    return log or out.with_suffix(".json")


@click.group()
def command() -> None:
    """Lucky imaging: sharp images from many seeing-distorted frames.

    `stack` handles the moon, sun and planets (SER, AVI or image folders); `speckle` handles
    star fields by shift-and-add of the frames with the brightest speckle; `simulate` makes test
    videos with known truth.

    Example: september lucky stack jupiter.ser --out jupiter.tif --stack-percent 10
    """


@command.command()
@click.argument("video", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output image: .tif, .png or .fits (16-bit).",
)
@_calibration_options
@click.option(
    "--stack-percent",
    "-s",
    type=float,
    default=10.0,
    show_default=True,
    help="Percentage of best frames stacked at each alignment point.",
)
@click.option(
    "--stack-number",
    type=int,
    help="Number of frames stacked per point (overrides --stack-percent).",
)
@click.option(
    "--align-box-width",
    "-a",
    type=int,
    default=48,
    show_default=True,
    help="Alignment point box width (px).",
)
@click.option(
    "--ap-step", type=int, help="Spacing of alignment points (px; default: the box width)."
)
@click.option(
    "--align-search-width",
    "-w",
    type=int,
    default=14,
    show_default=True,
    help="Alignment point search width (px).",
)
@click.option(
    "--stab-mode",
    "-m",
    type=click.Choice(["auto", "surface", "planet"]),
    default="auto",
    show_default=True,
    help="Global registration: structure patch (surface) or centre of gravity (planet).",
)
@click.option(
    "--stab-sw",
    type=int,
    default=34,
    show_default=True,
    help="Global registration search width (px).",
)
@click.option(
    "--rf-percent",
    type=float,
    default=5.0,
    show_default=True,
    help="Percentage of best frames averaged into the reference.",
)
@click.option(
    "--align-min-struct",
    type=float,
    default=0.04,
    show_default=True,
    help="Drop alignment points with less structure than this fraction of the best.",
)
@click.option(
    "--align-min-bright",
    type=float,
    default=10.0,
    show_default=True,
    help="Drop alignment points darker than this (in 8-bit units).",
)
@click.option("--normalize-bright", "-n", is_flag=True, help="Divide frame scores by brightness.")
@click.option(
    "--drizzle",
    type=click.Choice(list(_DRIZZLE), case_sensitive=False),
    default="off",
    show_default=True,
    help="Resample onto a finer grid.",
)
@click.option(
    "--sharpen",
    metavar="LAYERS",
    help="Layered unsharp mask: 'default' or SIGMA:GAIN pairs, e.g. '1:1.0,2:0.5'.",
)
@click.option(
    "--rgb-align", is_flag=True, help="Shift red and blue onto green (atmospheric dispersion)."
)
@click.option("--stretch", is_flag=True, help="Stretch the result to the full 16-bit range.")
@click.option(
    "--byte-order",
    type=click.Choice(["auto", "little", "big"]),
    default="auto",
    show_default=True,
    help="Byte order of 16-bit SER data (auto: the header's de facto meaning).",
)
@click.option(
    "--memory",
    type=float,
    default=2.0,
    show_default=True,
    help="GB of RAM for caching frames; larger videos are re-read from disk.",
)
@click.option(
    "--log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON log of parameters and timings (default: beside --out).",
)
def stack(video: Path, out: Path, dark: Path | None, flat: Path | None, stack_percent: float,
          stack_number: int | None, align_box_width: int, ap_step: int | None,
          align_search_width: int, stab_mode: str, stab_sw: int, rf_percent: float,
          align_min_struct: float, align_min_bright: float, normalize_bright: bool, drizzle: str,
          sharpen: str | None, rgb_align: bool, stretch: bool, byte_order: str, memory: float,
          log: Path | None) -> None:  # fmt: skip
    """Stack a video of the moon, sun or a planet into one sharp 16-bit image.

    Example: september lucky stack moon.ser --out moon.tif -s 10 --drizzle 1.5x --sharpen default
    """
    from september.errors import SeptemberError
    from september.lucky.frames import open_frames
    from september.lucky.output import to_uint16, write_image, write_log
    from september.lucky.sharpen import parse_layers
    from september.lucky.stack import StackOptions, stack_frames

    try:
        options = StackOptions(
            stack_percent=stack_percent, stack_number=stack_number, box_width=align_box_width,
            ap_step=ap_step, search_width=align_search_width, align_mode=stab_mode,
            align_search_width=stab_sw, reference_percent=rf_percent,
            brightness_threshold=align_min_bright / 256, structure_threshold=align_min_struct,
            normalise_brightness=normalize_bright, drizzle=_DRIZZLE[drizzle.lower()],
            sharpen=parse_layers(sharpen) if sharpen is not None else (), rgb_align=rgb_align,
            memory_limit_gb=memory,
        )  # fmt: skip
    except ValueError as err:
        raise SeptemberError(str(err)) from err
    source = open_frames(video, dark=dark, flat=flat, byte_order=byte_order)
    progress, report = _progress_bar()
    with progress:
        result = stack_frames(source, options, report)
    write_image(out, to_uint16(result.image, source.full_scale, stretch=stretch))
    log_file = write_log(_log_path(out, log), {**result.log, "output": str(out)})
    timings = result.log["timings_s"]
    click.echo(
        f"stacked {result.log['frames_per_point']} of {result.log['frames']} frames at "
        f"{result.log['alignment_points']} alignment points in {timings['total']:.2f} s -> {out} "
        f"(log {log_file})"
    )


def _roi(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError as err:
        raise click.BadParameter(f"{text!r} is not X,Y,WIDTH,HEIGHT") from err
    return x, y, w, h


@command.command()
@click.argument("frames", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output image: .fits, .tif or .png (16-bit).",
)
@_calibration_options
@click.option("--roi", metavar="X,Y,W,H", help="Region of interest in frame pixels.")
@click.option(
    "--select-percent",
    "-r",
    type=float,
    default=5.0,
    show_default=True,
    help="Percentage of frames kept, by peak intensity over flux (Strehl proxy).",
)
@click.option(
    "--track",
    type=click.Choice(["peak", "centroid"]),
    default="peak",
    show_default=True,
    help="Track the brightest speckle or the centroid (defocused images).",
)
@click.option(
    "--background",
    type=click.Choice(["plane", "median", "none"]),
    default="plane",
    show_default=True,
    help="Background removed from every frame.",
)
@click.option(
    "--reuse-selection",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON log of a focused run whose frame selection this (defocused) series reuses.",
)
@click.option(
    "--measure-pair", is_flag=True, help="Measure the separation of a double star on the result."
)
@click.option(
    "--log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON log (default: beside --out).",
)
def speckle(frames: Path, out: Path, dark: Path | None, flat: Path | None, roi: str | None,
            select_percent: float, track: str, background: str, reuse_selection: Path | None,
            measure_pair: bool, log: Path | None) -> None:  # fmt: skip
    """Shift-and-add the best frames of a star series (SER, video or FITS folder).

    Example: september lucky speckle focus/ --out focus.fits -r 5 --measure-pair
    """
    import json

    from september.errors import SeptemberError
    from september.lucky.frames import open_frames
    from september.lucky.output import to_uint16, write_image, write_log
    from september.lucky.speckle import SpeckleOptions, speckle_stack
    from september.lucky.speckle import measure_pair as measure

    selection = None
    if reuse_selection is not None:
        try:
            selection = tuple(json.loads(reuse_selection.read_text())["selected_frames"])
        except (KeyError, ValueError) as err:
            raise SeptemberError(
                f"{reuse_selection} is not a speckle log with 'selected_frames'; pass the JSON "
                "log written by a previous `september lucky speckle` run."
            ) from err
    try:
        options = SpeckleOptions(
            select_percent=select_percent, track=track, roi=_roi(roi), background=background,
            selection=selection,
        )  # fmt: skip
    except ValueError as err:
        raise SeptemberError(str(err)) from err
    source = open_frames(frames, dark=dark, flat=flat)
    progress, report = _progress_bar()
    with progress:
        result = speckle_stack(source, options, report)
    peak = float(result.image.max())
    write_image(out, to_uint16(result.image, max(peak, 1e-12) / 0.9))
    record = {**result.log, "output": str(out), "output_scale": 0.9 * 65535 / max(peak, 1e-12)}
    if measure_pair:
        pair = measure(result.image)
        record["pair"] = {
            "separation_px": pair.separation, "angle_deg": pair.angle,
            "flux_ratio": pair.flux_ratio, "primary": pair.primary, "secondary": pair.secondary,
        }  # fmt: skip
        click.echo(
            f"pair: separation {pair.separation:.3f} px, angle {pair.angle:.2f} deg, "
            f"flux ratio {pair.flux_ratio:.3f}"
        )
    log_file = write_log(_log_path(out, log), record)
    click.echo(
        f"stacked {len(result.log['selected_frames'])} of {result.log['frames']} frames -> {out} "
        f"(log {log_file})"
    )


@command.command()
@click.argument("kind", type=click.Choice(["moon", "planet", "binary"]))
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    required=True,
    help="A .ser file, or a folder for one image per frame.",
)
@click.option("--frames", type=int, default=100, show_default=True, help="Number of frames.")
@click.option(
    "--size", type=int, default=256, show_default=True, help="Frame width and height (px)."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--format",
    "suffix",
    type=click.Choice([".png", ".tif", ".fits"]),
    default=".png",
    show_default=True,
    help="Image format when --out is a folder.",
)
def simulate(kind: str, out: Path, frames: int, size: int, seed: int, suffix: str) -> None:
    """Simulate a lucky-imaging video with known truth (truth written beside it).

    Example: september lucky simulate moon --out moon.ser --frames 200 --size 512
    """
    import json

    import numpy as np

    from september.lucky.output import write_image
    from september.sim import lucky_video as sim

    if kind == "binary":
        video = sim.binary_star_video(frames=frames, size=min(size, 128), seed=seed)
    else:
        truth = sim.moon_truth(size) if kind == "moon" else sim.planet_truth(size, seed=seed)
        video = sim.surface_video(truth, frames=frames, seed=seed, kind=kind)
    if out.suffix.lower() == ".ser":
        sim.write_video_ser(video, out)
        stem = out.with_suffix("")
    else:
        sim.write_frames_folder(video, out, suffix=suffix)
        stem = out.parent / f"{out.name}"
    if video.truth is not None:
        scale = 65535 / max(float(video.truth.max()), 1e-12)
        write_image(
            Path(f"{stem}_truth.tif"), np.clip(video.truth * scale, 0, 65535).astype(np.uint16)
        )
    truth = {"kind": kind, "frames": frames, "separation_px": video.separation,
             "angle_deg": video.angle, "flux_ratio": video.flux_ratio, **video.meta}  # fmt: skip
    Path(f"{stem}_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    click.echo(f"wrote {frames} {kind} frames to {out} (truth: {stem}_truth.json)")
