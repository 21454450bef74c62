"""Surface and planet lucky imaging: many seeing-distorted frames in, one sharp image out.

The algorithm is PlanetarySystemStacker's, vectorised with OpenCV:

1. rank frames by overall sharpness (float Laplacian std on a Gaussian pyramid level, see
   ``quality``);
2. register all frames globally, by tracking the patch with the most structure on the best frame
   (normalised cross-correlation at half resolution) or by centre of gravity for a planet on black
   sky;
3. average the best frames into a reference and lay an alignment-point (AP) mesh over it,
   dropping dim or featureless points;
4. per AP, rank frames by local contrast and keep the best N %, measuring each kept frame's local
   shift to sub-pixel precision (search-border hits count as failures and are left out);
5. average each AP's shifted patches (optionally on a 1.5x/2x "drizzle" grid) and blend them with
   smooth Hann weights, filling weakly covered pixels from a globally aligned background;
6. optionally align the colour channels and sharpen with layered unsharp masks.

Speed comes from touching little memory and making few, large OpenCV calls: frames are read
through memory maps straight into OpenCV (no whole-frame float copies kept), the half-resolution
copies are recomputed per stage in per-thread buffers, and the local shifts of all frames at one
AP are measured in one correlation over their windows packed side by side. Pixel access lives in
``pixels``, the global registration of stage 2 in ``registration``, the local shifts and patch
stacks of stage 5 in ``patches``; ``_stack`` below runs the stages in turn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from september.errors import BadFrameError
from september.lucky.align import (
    centre_of_gravity,
    is_isolated_object,
)
from september.lucky.frames import FrameSource, luminance
from september.lucky.patches import PointStacker, blend
from september.lucky.pixels import FramePixels
from september.lucky.points import alignment_points
from september.lucky.quality import frame_sharpness, laplacian_map, local_contrast
from september.lucky.registration import Registration, register_frames
from september.lucky.sharpen import align_channels, unsharp_layers

__all__ = ["StackOptions", "StackResult", "stack_frames"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StackOptions:
    """Parameters, named as PlanetarySystemStacker names them where there is an equivalent."""

    stack_percent: float = 10.0
    stack_number: int | None = None
    box_width: int = 48
    ap_step: int | None = None
    search_width: int = 14
    align_mode: str = "auto"
    align_search_width: int = 34
    reference_percent: float = 5.0
    brightness_threshold: float = 10 / 256
    structure_threshold: float = 0.04
    normalise_brightness: bool = False
    drizzle: float = 1.0
    interpolation: str = "cubic"
    sharpen: tuple[tuple[float, float], ...] = ()
    rgb_align: bool = False
    memory_limit_gb: float = 2.0
    workers: int = min(4, os.cpu_count() or 1)

    def __post_init__(self) -> None:
        if not 0 < self.stack_percent <= 100:
            raise ValueError(f"stack_percent must be in (0, 100], not {self.stack_percent}")
        if self.drizzle not in (1.0, 1.5, 2.0, 3.0):
            raise ValueError(f"drizzle must be 1, 1.5, 2 or 3, not {self.drizzle}")
        if self.box_width < 8:
            raise ValueError(f"box_width must be >= 8 px, not {self.box_width}")
        if self.align_mode not in ("auto", "surface", "planet"):
            raise ValueError(f"align_mode must be auto, surface or planet, not {self.align_mode!r}")
        if self.interpolation not in ("cubic", "linear"):
            raise ValueError(f"interpolation must be cubic or linear, not {self.interpolation!r}")


@dataclass
class StackResult:
    """The stacked image (float32, camera units; 2-D or H x W x 3) and a log of what was done."""

    image: np.ndarray
    log: dict = field(default_factory=dict)


def stack_frames(
    source: FrameSource, options: StackOptions | None = None, progress: Progress | None = None
) -> StackResult:
    """Stack the frames of ``source``; ``progress(stage, done, total)`` reports progress.

    Frames are processed on ``options.workers`` threads; OpenCV's own threading is switched off
    meanwhile, since one frame per thread keeps the cores busier than splitting small images.
    """
    opts = options or StackOptions()
    threads = cv2.getNumThreads()
    if opts.workers > 1:
        cv2.setNumThreads(1)
    try:
        return _stack(source, opts, progress)
    finally:
        cv2.setNumThreads(threads)


def _stack(source: FrameSource, opts: StackOptions, progress: Progress | None) -> StackResult:
    count = len(source)
    if count < 2:
        raise BadFrameError(
            f"{source.path} has {count} frame(s); lucky imaging needs several.", reason="too-few"
        )
    frames = FramePixels(source, opts.memory_limit_gb)
    with ThreadPoolExecutor(max_workers=opts.workers) as pool:
        job = _Job(
            source=source,
            opts=opts,
            frames=frames,
            report=progress or (lambda stage, done, total: None),
            map=pool.map if opts.workers > 1 else map,
        )
        return _run(job)


def _run(job: _Job) -> StackResult:
    """The six stages in turn (see the module docstring), timed one by one."""
    timings: dict[str, float] = {}
    with _timed(timings, "rank"):
        ranking = _rank(job)
    with _timed(timings, "align"):
        registration = _register(job, ranking)
    with _timed(timings, "reference"):
        reference = _reference_and_mesh(job, ranking, registration)
    with _timed(timings, "quality"):
        members = _select(job, registration, reference)
    with _timed(timings, "stack"):
        image, contributions, failures = _stack_points(job, registration, reference, members)
    with _timed(timings, "post"):
        image, channel_shifts = _post_process(image, job.opts)
    timings["total"] = sum(timings.values())

    log = _log(
        job, ranking, registration, reference, contributions, failures, channel_shifts, timings,
        image.shape,
    )  # fmt: skip
    return StackResult(image=image.astype(np.float32, copy=False), log=log)


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record the seconds the ``with`` block takes as ``timings[key]``."""
    start = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - start


def _log(
    job: _Job,
    ranking: _Ranking,
    registration: Registration,
    reference: _Reference,
    contributions: np.ndarray,
    failures: np.ndarray,
    channel_shifts: list | None,
    timings: dict[str, float],
    shape: tuple[int, ...],
) -> dict:
    """What was done, for the JSON log beside the image."""
    return {
        "source": str(job.source.path),
        "frames": job.count,
        "frames_registered": int(registration.usable.sum()),
        "align_mode": registration.mode,
        "alignment_patch": registration.patch_box,
        "common_area": registration.common_area(),
        "frames_per_point": reference.n_stack,
        "reference_frames": reference.n_reference,
        "alignment_points": len(reference.centres),
        "points_dropped": reference.dropped,
        "shift_failures": int(failures.sum()),
        "shifts_measured": int(contributions.sum() + failures.sum()),
        "best_frames": [int(i) for i in ranking.order[:10]],
        "scores": [round(float(s), 6) for s in ranking.scores],
        "global_shifts": np.round(registration.shifts, 3).tolist(),
        "channel_shifts": channel_shifts,
        "options": asdict(job.opts),
        "timings_s": {key: round(value, 4) for key, value in timings.items()},
        "output_shape": list(shape),
    }


@dataclass
class _Job:
    """What every stage works with: the frames, the options, progress and the thread pool."""

    source: FrameSource
    opts: StackOptions
    frames: FramePixels
    report: Progress
    map: Callable
    """``pool.map`` with several workers, else the built-in ``map``: one task per item, in order."""

    @property
    def count(self) -> int:
        return len(self.source)

    @property
    def flags(self) -> int:
        """The OpenCV interpolation of all resampling."""
        return cv2.INTER_CUBIC if self.opts.interpolation == "cubic" else cv2.INTER_LINEAR

    @property
    def taps(self) -> int:
        """Width of the interpolation kernel, px."""
        return 4 if self.flags == cv2.INTER_CUBIC else 2

    @property
    def channels(self) -> tuple[int, ...]:
        """Trailing shape of an output pixel: (3,) for colour, () for mono."""
        return (3,) if self.source.is_colour else ()

    @property
    def half_patch(self) -> int:
        """Half the side of the patch each alignment point contributes (0.75 boxes), px."""
        return round(0.75 * self.opts.box_width)

    def each(self, function: Callable, items) -> Iterator:
        """``function`` over ``items`` on the pool, in order, handed out in chunks: one task per
        frame would cost more in pool overhead and lock traffic than the frame's own work."""
        items = list(items)
        size = max(1, len(items) // (8 * self.opts.workers))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        for results in self.map(lambda chunk: [function(item) for item in chunk], chunks):
            yield from results


@dataclass
class _Ranking:
    """Stage 1: each frame's overall sharpness, and the frames from sharpest to least sharp."""

    scores: np.ndarray
    order: np.ndarray
    centres_of_gravity: np.ndarray
    """Per frame (half-resolution px); measured only if ``measured_gravity``, zeros otherwise."""
    measured_gravity: bool


@dataclass
class _Reference:
    """Stage 3: how many frames go where, the reference, the background and the AP mesh."""

    ranked: list[int]
    """The registered frames, sharpest first."""
    n_stack: int
    n_reference: int
    reference: np.ndarray
    background: np.ndarray
    centres: np.ndarray
    dropped: dict


def _rank(job: _Job) -> _Ranking:
    """Stage 1: overall ranking, on half-resolution copies (and centres of gravity, should the
    object turn out to be a planet on black sky)."""
    frames, opts, count = job.frames, job.opts, job.count
    half_shape = frames.half_shape
    scores = np.empty(count)
    centres_of_gravity = np.zeros((count, 2))
    # Centres of gravity are measured while ranking when the object is, or looks like (on the
    # first frame), a planet on black sky; the mode is decided on the best frame afterwards.
    want_gravity = opts.align_mode == "planet" or (
        opts.align_mode == "auto" and is_isolated_object(frames.half(0))
    )

    def measure(index: int) -> tuple[float, tuple[float, float]]:
        half = frames.half(index)
        score = frame_sharpness(
            half, normalise=opts.normalise_brightness, out=frames.scratch("lap", half_shape)
        )
        if not want_gravity:
            return score, (0.0, 0.0)
        return score, centre_of_gravity(half, out=frames.scratch("gravity", half_shape))

    for index, (score, centre) in enumerate(job.each(measure, range(count))):
        scores[index] = score
        centres_of_gravity[index] = centre
        job.report("rank", index + 1, count)
    order = np.argsort(-scores, kind="stable")
    return _Ranking(scores, order, centres_of_gravity, want_gravity)


def _register(job: _Job, ranking: _Ranking) -> Registration:
    """Stage 2: global registration against the best frame (see ``registration``)."""
    return register_frames(
        job.frames,
        int(ranking.order[0]),
        ranking.centres_of_gravity if ranking.measured_gravity else None,
        mode=job.opts.align_mode,
        search_width=job.opts.align_search_width,
        min_size=job.opts.box_width,
        each=job.each,
        report=job.report,
    )


def _reference_and_mesh(job: _Job, ranking: _Ranking, registration: Registration) -> _Reference:
    """Stage 3: the reference (mean of the best few frames), the background (mean of the frames
    to stack, on the output grid) and the alignment-point mesh laid over the reference."""
    opts = job.opts
    ranked = [int(i) for i in ranking.order if registration.usable[i]]
    n_stack = opts.stack_number or max(1, round(opts.stack_percent / 100 * len(ranked)))
    n_stack = min(n_stack, len(ranked))
    n_reference = max(
        1, min(len(ranked), max(3, round(opts.reference_percent / 100 * len(ranked))))
    )
    reference, background = _mean_frames(job, registration, ranked, n_reference, n_stack)
    box = opts.box_width
    centres, dropped = alignment_points(
        reference, box=box, step=opts.ap_step or box, half_patch=job.half_patch,
        min_brightness=opts.brightness_threshold * job.source.full_scale,
        min_structure=opts.structure_threshold,
    )  # fmt: skip
    return _Reference(ranked, n_stack, n_reference, reference, background, centres, dropped)


def _mean_frames(
    job: _Job, registration: Registration, ranked: list[int], n_reference: int, n_stack: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the best ``n_reference`` frames (mono, common area) and of the best
    ``n_stack`` (output grid, drizzled if asked), globally aligned.

    The frames are split into one run of consecutive ranks per worker (twice over, for balance);
    each run is summed through one work array and the runs' sums are added in rank order, so the
    result does not depend on which thread finished first and no frame-sized memory is allocated
    per frame.
    """
    frames, flags, channels, taps = job.frames, job.flags, job.channels, job.taps
    area, shifts = registration.area, registration.shifts
    y_lo, x_lo = registration.top, registration.left
    scale = job.opts.drizzle
    out_shape = (round(area[0] * scale), round(area[1] * scale))
    ranks = list(range(max(n_reference, n_stack)))
    size = -(-len(ranks) // (2 * max(1, job.opts.workers)))
    runs = [ranks[i : i + size] for i in range(0, len(ranks), size)]

    def resample(run: list[int]) -> tuple[np.ndarray, np.ndarray]:
        reference_sum = np.zeros(area, np.float32)
        background_sum = np.zeros((*out_shape, *channels), np.float32)
        for rank in run:
            index = ranked[rank]
            top, left = y_lo + shifts[index][0], x_lo + shifts[index][1]
            raw = frames.view(index)
            work = frames.scratch("frame", (area[0] + taps - 1, area[1] + taps - 1, *channels))
            sampled = None
            if rank < n_stack:
                sampled = frames.shifted(raw, top, left, out_shape, scale, flags, work)
                background_sum += sampled
            if rank < n_reference:
                if sampled is None or scale != 1.0:
                    sampled = frames.shifted(raw, top, left, area, 1.0, flags, work)
                reference_sum += luminance(sampled)
        return reference_sum, background_sum

    sums = list(job.map(resample, runs))  # in rank order, whichever thread ran each
    reference, background = sums[0]
    for more_reference, more_background in sums[1:]:
        reference += more_reference
        background += more_background
    reference /= n_reference
    background /= n_stack
    return reference, background


def _select(job: _Job, registration: Registration, reference: _Reference) -> list[list[int]]:
    """Stage 4: local quality and selection per alignment point: the ``n_stack`` frames of the
    highest local contrast at each point, best first."""
    frames, centres = job.frames, reference.centres
    n_points = len(centres)
    if not n_points:
        return []
    quality = np.full((job.count, n_points), -np.inf)
    half_box = job.opts.box_width // 2
    contrast_box = max(1, half_box // 2)
    edge = contrast_box + 3
    offsets = registration.bases

    def contrast(index: int) -> np.ndarray:
        # Only the part of the frame the points' boxes cover (a planet leaves most of it out).
        points = (centres + offsets[index]) // 2
        (top, left), (bottom, right) = points.min(axis=0) - edge, points.max(axis=0) + edge
        half, y0, x0 = frames.half_region(index, top, left, bottom - top + 1, right - left + 1)
        lap = laplacian_map(half, frames.scratch("lap", half.shape))
        work = frames.scratch("integrals", (3, half.shape[0] + 1, half.shape[1] + 1))
        return local_contrast(lap, points - (y0, x0), contrast_box, work)

    ranked = reference.ranked
    for done, (index, values) in enumerate(zip(ranked, job.each(contrast, ranked), strict=True)):
        quality[index] = values
        job.report("quality", done + 1, len(ranked))
    chosen = np.argsort(-quality, axis=0, kind="stable")[: reference.n_stack]
    return chosen.T.tolist()


def _stack_points(
    job: _Job, registration: Registration, reference: _Reference, members: list[list[int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stage 5: local shifts, patch stacks and blending (see ``patches``). Returns the image and,
    per point, how many frames were stacked and how many shifts failed."""
    n_points = len(reference.centres)
    stacker = PointStacker(
        job.frames, reference.reference, reference.centres, registration.bases.tolist(), members,
        box=job.opts.box_width, half_patch=job.half_patch, search_width=job.opts.search_width,
        n_stack=reference.n_stack, scale=job.opts.drizzle, flags=job.flags, taps=job.taps,
        channels=job.channels,
    )  # fmt: skip
    out_patch = stacker.out_patch
    sums = np.zeros((n_points, out_patch, out_patch, *job.channels), np.float32)
    contributions = np.zeros(n_points, int)
    for point, (total, used_frames) in enumerate(job.map(stacker.stack_point, range(n_points))):
        sums[point] = total
        contributions[point] = used_frames
        job.report("stack", point + 1, n_points)
    failures = np.array([len(group) for group in members], int) - contributions
    image = blend(
        sums,
        contributions,
        reference.centres,
        reference.background,
        half_patch=job.half_patch,
        scale=job.opts.drizzle,
    )
    return image, contributions, failures


def _post_process(image: np.ndarray, opts: StackOptions) -> tuple[np.ndarray, list | None]:
    """Stage 6: optional colour-channel alignment and layered unsharp masks."""
    channel_shifts = None
    if opts.rgb_align and image.ndim == 3:
        image, channel_shifts = align_channels(image)
    if opts.sharpen:
        image = unsharp_layers(image, opts.sharpen)
    return image, channel_shifts
