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
AP are measured in one correlation over their windows packed side by side.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from september.errors import BadFrameError
from september.lucky.align import (
    Shift,
    centre_of_gravity,
    find_structure_patch,
    is_isolated_object,
    match_shift,
    stacked_peaks,
)
from september.lucky.frames import FrameSource, luminance
from september.lucky.points import alignment_points
from september.lucky.quality import (
    blur,
    downsample,
    frame_sharpness,
    laplacian_map,
    local_contrast,
)
from september.lucky.resample import KERNEL_STEPS, interpolation_kernel, translate
from september.lucky.sharpen import align_channels, unsharp_layers

__all__ = ["StackOptions", "StackResult", "stack_frames"]

Progress = Callable[[str, int, int], None]


FIRST_SEARCH = 4
SHIFT_PRIOR = 3e-4
"""Penalty per px squared subtracted from the correlation when local shifts are measured: a weak
prior for small shifts. It hardly moves a clear peak (bias well under 0.05 px) but decides where
the correlation is a flat ridge, e.g. along a planet's band, where the peak would otherwise wander
many px along the band and put the patch in the wrong place."""
"""Local shifts are searched within +-4 px first, and within the full width only on a border hit."""

BLUR_MARGIN = 3
"""Extra pixels around a region so that the 7x7 blur is exact where shifts are measured."""

BACKGROUND_WEIGHT = 0.3
"""Blend weight below which the background image starts to fill in (AP window peak is 1)."""


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


class _Frames:
    """Pixel access for the stacker: raw frame views, calibrated regions, half-resolution copies.

    Nothing frame-sized is allocated per frame: whole frames are converted to float32 and reduced
    to half resolution in buffers private to each thread, and a stage that needs the half-resolution
    copy again computes it again. That is cheaper than keeping copies, since fresh memory costs
    page faults (and, with transparent huge pages, sometimes long compaction stalls). Folders of
    image files keep the frames read when they fit in the memory limit.
    """

    def __init__(self, source: FrameSource, limit_gb: float) -> None:
        self.source = source
        count = len(source)
        height, width = source.shape[:2]
        self.half_shape = ((height + 1) // 2, (width + 1) // 2)
        self._views: dict[int, np.ndarray] = {}
        first = source.view(0)
        self.keep_views = not source.views_are_cheap and count * first.nbytes <= limit_gb * 1e9
        if self.keep_views:
            self._views[0] = first
        # Mono frames without dark or flat, stored in native byte order, go to OpenCV as they are.
        self.direct = (
            first.ndim == 2
            and first.dtype in (np.uint8, np.uint16, np.float32)
            and first.dtype.isnative
            and source.dark is None
            and source.flat is None
        )
        self._local = threading.local()

    def view(self, index: int) -> np.ndarray:
        """The uncalibrated frame as stored (see ``FrameSource.view``)."""
        frame = self._views.get(index)
        if frame is None:
            frame = self.source.view(index)
            if self.keep_views or self.source.views_are_cheap:
                self._views[index] = frame
        return frame

    def full(self, index: int) -> np.ndarray:
        """The calibrated float32 frame, in this thread's buffer (valid until its next call)."""
        raw = self.view(index)
        return self.source.calibrate(raw, out=self.scratch("frame", raw.shape))

    def scratch(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A contiguous float32 work array private to this thread, reused so that no fresh pages
        are faulted in: one buffer per name, grown when a larger shape is asked for."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        size = math.prod(shape)
        flat = buffers.get(name)
        if flat is None or flat.size < size:
            flat = buffers[name] = np.empty(size, np.float32)
        return flat[:size].reshape(shape)

    def half(self, index: int) -> np.ndarray:
        """The mono frame one Gaussian pyramid level down, in this thread's buffer."""
        return downsample(luminance(self.full(index)), self.scratch("half", self.half_shape))

    def half_region(
        self, index: int, top: int, left: int, height: int, width: int
    ) -> tuple[np.ndarray, int, int]:
        """Rows ``top:top+height`` and columns ``left:left+width`` of ``half(index)``, clipped,
        and the corner: computed from that part of the frame only. Pixels within one of the
        region's edges differ from ``half`` unless the edge is the frame's."""
        y0, x0 = max(0, top), max(0, left)
        raw = self.view(index)
        rows = slice(2 * y0, min(raw.shape[0], 2 * (top + height)))
        cols = slice(2 * x0, min(raw.shape[1], 2 * (left + width)))
        part = raw[rows, cols]
        mono = luminance(self.source.calibrate(part, rows, cols, self.scratch("frame", part.shape)))
        shape = ((mono.shape[0] + 1) // 2, (mono.shape[1] + 1) // 2)
        return downsample(mono, self.scratch("half", shape)), y0, x0

    def region(
        self, raw: np.ndarray, top: int, left: int, height: int, width: int
    ) -> tuple[np.ndarray, int, int]:
        """Calibrated float32 pixels of a region of ``raw`` clipped to the frame, and its corner."""
        y0, x0 = max(0, top), max(0, left)
        rows = slice(y0, min(raw.shape[0], top + height))
        cols = slice(x0, min(raw.shape[1], left + width))
        return self.source.calibrate(raw[rows, cols], rows, cols), y0, x0

    def pixels(
        self, raw: np.ndarray, top: int, left: int, height: int, width: int
    ) -> tuple[np.ndarray, int, int]:
        """Like ``region``, but a view of ``raw`` itself when no calibration or conversion is needed
        (OpenCV takes uint8/uint16 input and gives float32 output where it matters)."""
        if not self.direct:
            return self.region(raw, top, left, height, width)
        y0, x0 = max(0, top), max(0, left)
        return raw[y0 : top + height, x0 : left + width], y0, x0


def _shifted(
    frames: _Frames,
    raw: np.ndarray,
    top: float,
    left: float,
    shape: tuple[int, int],
    scale: float,
    flags: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The calibrated ``shape`` grid of ``raw`` whose first pixel sits at sub-pixel (top, left)
    (``out``: optional work array, see ``translate``)."""
    margin = 3
    iy, ix = math.floor(top) - margin, math.floor(left) - margin
    height = math.ceil(shape[0] / scale) + 2 * margin + 1
    width = math.ceil(shape[1] / scale) + 2 * margin + 1
    pixels, ry, rx = frames.pixels(raw, iy, ix, height, width)
    return translate(pixels, top - ry, left - rx, shape, flags, scale, out)


def _window(length: int) -> np.ndarray:
    """2-D Hann blending weights (never exactly zero) for a square patch."""
    hann = np.hanning(length + 2)[1:-1].astype(np.float32)
    return np.outer(hann, hann) + np.float32(1e-3)


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
    report = progress or (lambda stage, done, total: None)
    count = len(source)
    if count < 2:
        raise BadFrameError(
            f"{source.path} has {count} frame(s); lucky imaging needs several.", reason="too-few"
        )
    frames = _Frames(source, opts.memory_limit_gb)
    pool = ThreadPoolExecutor(max_workers=opts.workers)
    run = pool.map if opts.workers > 1 else map

    def each(function: Callable, items) -> Iterator:
        """``function`` over ``items`` on the pool, in order, handed out in chunks: one task per
        frame would cost more in pool overhead and lock traffic than the frame's own work."""
        items = list(items)
        size = max(1, len(items) // (8 * opts.workers))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        for results in run(lambda chunk: [function(item) for item in chunk], chunks):
            yield from results

    timings: dict[str, float] = {}
    flags = cv2.INTER_CUBIC if opts.interpolation == "cubic" else cv2.INTER_LINEAR

    # 1. Overall ranking, on half-resolution copies (and centres of gravity, should the object
    # turn out to be a planet on black sky).
    start = time.perf_counter()
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

    for index, (score, centre) in enumerate(each(measure, range(count))):
        scores[index] = score
        centres_of_gravity[index] = centre
        report("rank", index + 1, count)
    order = np.argsort(-scores, kind="stable")
    timings["rank"] = time.perf_counter() - start

    # 2. Global registration against the best frame, at half resolution (shifts in full pixels).
    start = time.perf_counter()
    best_half = frames.half(int(order[0])).copy()
    height, width = source.shape[:2]
    mode = opts.align_mode
    if mode == "auto":
        mode = "planet" if is_isolated_object(best_half) else "surface"
    shifts = np.zeros((count, 2))
    usable = np.ones(count, dtype=bool)
    patch_box = None
    if mode == "surface":
        search = max(1, math.ceil(opts.align_search_width / 2))
        size = (max(8, best_half.shape[0] // 3), max(8, best_half.shape[1] // 3))
        top, left = find_structure_patch(best_half, size, search)
        template = best_half[top : top + size[0], left : left + size[1]]
        patch_box = [2 * top, 2 * left, 2 * size[0], 2 * size[1]]

        def register(index: int) -> Shift:
            found = None
            for reach in (search, 3 * search):
                edge = reach + 2
                window, wy, wx = frames.half_region(
                    index, top - edge, left - edge, size[0] + 2 * edge, size[1] + 2 * edge
                )
                found = match_shift(window, template, top - wy, left - wx, reach)
                if found.ok:
                    break
            return found

        for index, found in enumerate(each(register, range(count))):
            shifts[index] = 2 * found.dy, 2 * found.dx
            usable[index] = found.ok
            report("align", index + 1, count)
    else:
        if not want_gravity:
            for index, centre in enumerate(
                each(lambda i: centre_of_gravity(frames.half(i)), range(count))
            ):
                centres_of_gravity[index] = centre
        shifts[:] = 2 * (centres_of_gravity - centres_of_gravity[order[0]])
        report("align", count, count)
    if usable.sum() < 2:
        raise BadFrameError(
            "fewer than two frames could be registered; is the object in view?", reason="unaligned"
        )
    used = np.flatnonzero(usable)
    y_lo = math.ceil(max(0.0, -shifts[used, 0].min()))
    x_lo = math.ceil(max(0.0, -shifts[used, 1].min()))
    y_hi = math.floor(min(height - 1.0, height - 1.0 - shifts[used, 0].max()))
    x_hi = math.floor(min(width - 1.0, width - 1.0 - shifts[used, 1].max()))
    area = (y_hi - y_lo + 1, x_hi - x_lo + 1)
    if min(area) < opts.box_width:
        raise BadFrameError(
            f"the area common to all frames is only {area[1]}x{area[0]} px; the object drifts too "
            "much. Trim the video to a steadier part.",
            reason="drift",
        )
    timings["align"] = time.perf_counter() - start

    # 3. Reference, background and the alignment-point mesh.
    start = time.perf_counter()
    ranked = [int(i) for i in order if usable[i]]
    n_stack = opts.stack_number or max(1, round(opts.stack_percent / 100 * len(ranked)))
    n_stack = min(n_stack, len(ranked))
    n_reference = max(
        1, min(len(ranked), max(3, round(opts.reference_percent / 100 * len(ranked))))
    )
    scale = opts.drizzle
    out_shape = (round(area[0] * scale), round(area[1] * scale))

    # Each thread adds its frames into its own sums (added up at the end), resampling through one
    # work array, so no frame-sized memory is allocated per frame.
    channels = (3,) if source.is_colour else ()
    taps = 4 if flags == cv2.INTER_CUBIC else 2
    local = threading.local()
    partial: list[tuple[np.ndarray, np.ndarray]] = []
    lock = threading.Lock()

    def resample(rank: int) -> None:
        sums = getattr(local, "sums", None)
        if sums is None:
            sums = local.sums = (
                np.zeros(area, np.float32),
                np.zeros((*out_shape, *channels), np.float32),
            )
            with lock:
                partial.append(sums)
        index = ranked[rank]
        top, left = y_lo + shifts[index][0], x_lo + shifts[index][1]
        raw = frames.view(index)
        work = frames.scratch("frame", (area[0] + taps - 1, area[1] + taps - 1, *channels))
        reference_sum, background_sum = sums
        sampled = None
        if rank < n_stack:
            sampled = _shifted(frames, raw, top, left, out_shape, scale, flags, work)
            background_sum += sampled
        if rank < n_reference:
            if sampled is None or scale != 1.0:
                sampled = _shifted(frames, raw, top, left, area, 1.0, flags, work)
            reference_sum += luminance(sampled)

    for _ in each(resample, range(max(n_reference, n_stack))):
        pass
    reference, background = partial[0]
    for more_reference, more_background in partial[1:]:
        reference += more_reference
        background += more_background
    reference /= n_reference
    background /= n_stack
    box = opts.box_width
    half_box = box // 2
    half_patch = round(0.75 * box)
    step = opts.ap_step or box
    centres, dropped = alignment_points(
        reference, box=box, step=step, half_patch=half_patch,
        min_brightness=opts.brightness_threshold * source.full_scale,
        min_structure=opts.structure_threshold,
    )  # fmt: skip
    timings["reference"] = time.perf_counter() - start

    # 4. Local quality and selection per alignment point.
    start = time.perf_counter()
    n_points = len(centres)
    chosen = np.zeros((n_stack, 0), int)
    if n_points:
        quality = np.full((count, n_points), -np.inf)

        contrast_box = max(1, half_box // 2)
        edge = contrast_box + 3

        offsets = np.rint(shifts).astype(int) + np.array([y_lo, x_lo])

        def contrast(index: int) -> np.ndarray:
            # Only the part of the frame the points' boxes cover (a planet leaves most of it out).
            points = (centres + offsets[index]) // 2
            (top, left), (bottom, right) = points.min(axis=0) - edge, points.max(axis=0) + edge
            half, y0, x0 = frames.half_region(index, top, left, bottom - top + 1, right - left + 1)
            lap = laplacian_map(half, frames.scratch("lap", half.shape))
            work = frames.scratch("integrals", (3, half.shape[0] + 1, half.shape[1] + 1))
            return local_contrast(lap, points - (y0, x0), contrast_box, work)

        for done, (index, values) in enumerate(zip(ranked, each(contrast, ranked), strict=True)):
            quality[index] = values
            report("quality", done + 1, len(ranked))
        chosen = np.argsort(-quality, axis=0, kind="stable")[:n_stack]
    timings["quality"] = time.perf_counter() - start

    # 5. Local shifts, patch stacks and blending. Point by point: the search windows of all the
    # point's frames go side by side into one image, which is blurred and correlated with the
    # point's template in one call each, and all peaks are found at once; the shift is searched
    # within +-FIRST_SEARCH px, then (peaks on that border) within the full search width the same
    # way. Windows that leave the frame go through ``one_shift``. Each found patch is resampled
    # at its sub-pixel place.
    start = time.perf_counter()
    patch = 2 * half_patch + 1
    out_patch = round(patch * scale)
    ref_blur = blur(reference)
    origins = centres - half_box
    templates = [ref_blur[y : y + box, x : x + box] for y, x in origins]
    search = opts.search_width
    first = min(FIRST_SEARCH, search)
    margin = search + BLUR_MARGIN
    points_yx = centres.tolist()
    lead = taps // 2 - 1
    extent = patch + taps - 1
    fast_resample = frames.direct and scale == 1.0
    bases = (np.rint(shifts).astype(int) + np.array([y_lo, x_lo])).tolist()
    members = chosen.T.tolist() if n_points else []

    def one_shift(point: int, index: int, reaches: tuple[int, ...]) -> Shift | None:
        """The local shift of one frame at one point, searched on a region of the frame within
        each of ``reaches`` in turn until the peak is not on the border (None if it always is)."""
        by, bx = bases[index]
        ty, tx = points_yx[point][0] + by - half_box, points_yx[point][1] + bx - half_box
        pixels, y0, x0 = frames.pixels(
            frames.view(index), ty - margin, tx - margin, box + 2 * margin, box + 2 * margin
        )
        blurred = blur(pixels if pixels.ndim == 2 else luminance(pixels))
        for reach in reaches:
            found = match_shift(blurred, templates[point], ty - y0, tx - x0, reach, SHIFT_PRIOR)
            if found.ok:
                return found
        return None

    def batch_shifts(
        point: int, indices: list[int], reach: int
    ) -> tuple[list[tuple[int, float, float]], list[int], list[int]]:
        """Local shifts of many frames at one point within +-``reach`` px, in one correlation.

        The frames' windows (with blur margins) go side by side into one image, which is blurred;
        the blurred search windows are packed without gaps (matchTemplate is markedly faster on a
        contiguous, gapless image) and correlated with the point's template at once. Returns the
        shifts found, the frames whose peak lies on the border, and those whose window leaves the
        frame.
        """
        cy0, cx0 = points_yx[point]
        window, seen = box + 2 * (reach + BLUR_MARGIN), box + 2 * reach
        wide = frames.scratch(f"wide{reach}", (window, n_stack * window))
        placed: list[int] = []
        outside: list[int] = []
        for index in indices:
            by, bx = bases[index]
            wy, wx = (
                cy0 + by - half_box - reach - BLUR_MARGIN,
                cx0 + bx - half_box - reach - BLUR_MARGIN,
            )
            if wy < 0 or wx < 0 or wy + window > height or wx + window > width:
                outside.append(index)
                continue
            pixels, _, _ = frames.pixels(frames.view(index), wy, wx, window, window)
            column = len(placed) * window
            wide[:, column : column + window] = pixels if pixels.ndim == 2 else luminance(pixels)
            placed.append(index)
        found: list[tuple[int, float, float]] = []
        border: list[int] = []
        if not placed:
            return found, border, outside
        blurred = blur(
            wide[:, : len(placed) * window],
            frames.scratch(f"blurred{reach}", (window, n_stack * window))[
                :, : len(placed) * window
            ],
        )
        # A contiguous array of exactly this width: correlating a view is much slower.
        packed = frames.scratch(f"packed{reach}", (seen, len(placed) * seen))
        inner = slice(BLUR_MARGIN, BLUR_MARGIN + seen)
        np.copyto(
            packed.reshape(seen, len(placed), seen),
            blurred.reshape(window, len(placed), window)[inner, :, inner],
        )
        corr = cv2.matchTemplate(packed, templates[point], cv2.TM_CCOEFF_NORMED)
        side = 2 * reach + 1
        step_rows, step_cols = corr.strides
        surfaces = np.lib.stride_tricks.as_strided(
            corr, (len(placed), side, side), (seen * step_cols, step_rows, step_cols)
        )
        if SHIFT_PRIOR:
            steps = (np.arange(side, dtype=np.float32) - reach) ** 2
            surfaces = surfaces - SHIFT_PRIOR * (steps[:, None] + steps[None, :])
        peak_y, peak_x, ok = stacked_peaks(surfaces)
        for index, py, px, good in zip(
            placed, peak_y.tolist(), peak_x.tolist(), ok.tolist(), strict=True
        ):
            if good:
                found.append((index, py - reach, px - reach))
            else:
                border.append(index)
        return found, border, outside

    def stack_point(point: int) -> tuple[np.ndarray, int]:
        cy0, cx0 = points_yx[point]
        found, retry, outside = batch_shifts(point, members[point], first)
        singles = [(index, (first, search)) for index in outside]
        if retry and first < search:
            more, _, outside = batch_shifts(point, retry, search)
            found += more
            singles += [(index, (search,)) for index in outside]
        for index, reaches in singles:
            shift = one_shift(point, index, reaches)
            if shift is not None:
                found.append((index, shift.dy, shift.dx))
        # Resampling: raw pixels well inside the frame go through the separable filter straight
        # into a stack of patches that is summed once; anything else through ``_shifted``.
        total = np.zeros((out_patch, out_patch, *channels), np.float32)
        filtered = frames.scratch("patches", (n_stack, extent, extent))
        done = 0
        for index, dy, dx in found:
            by, bx = bases[index]
            top, left = cy0 + by - half_patch + dy, cx0 + bx - half_patch + dx
            y0, x0 = math.floor(top) - lead, math.floor(left) - lead
            if fast_resample and 0 <= y0 < height - extent and 0 <= x0 < width - extent:
                cv2.sepFilter2D(
                    frames.view(index)[y0 : y0 + extent, x0 : x0 + extent], cv2.CV_32F,
                    interpolation_kernel(round((left - x0 - lead) * KERNEL_STEPS), taps),
                    interpolation_kernel(round((top - y0 - lead) * KERNEL_STEPS), taps),
                    dst=filtered[done], anchor=(0, 0), borderType=cv2.BORDER_REFLECT,
                )  # fmt: skip
                done += 1
            else:
                total += _shifted(
                    frames, frames.view(index), top, left, (out_patch, out_patch), scale, flags
                )
        if done:
            total += filtered[:done, :patch, :patch].sum(axis=0)
        return total, len(found)

    sums = np.zeros((n_points, out_patch, out_patch, *channels), np.float32)
    contributions = np.zeros(n_points, int)
    for point, (total, used_frames) in enumerate(run(stack_point, range(n_points))):
        sums[point] = total
        contributions[point] = used_frames
        report("stack", point + 1, n_points)
    failures = np.array([len(group) for group in members], int) - contributions
    weights = _window(out_patch)
    if channels:
        weights = weights[..., None]
    canvas = np.zeros(background.shape, np.float32)
    total = np.zeros(out_shape if not channels else (*out_shape, 1), np.float32)
    for point, (cy, cx) in enumerate(centres):
        if contributions[point] == 0:
            continue
        top, left = round((cy - half_patch) * scale), round((cx - half_patch) * scale)
        rows = slice(top, top + out_patch)
        cols = slice(left, left + out_patch)
        view = canvas[rows, cols]
        w = weights[: view.shape[0], : view.shape[1]]
        view += w * sums[point][: view.shape[0], : view.shape[1]] / contributions[point]
        total[rows, cols] += w
    # image = (canvas + fill * background) / (total + fill), fill = max(0.3 - total, 0), in place
    fill = np.subtract(np.float32(BACKGROUND_WEIGHT), total)
    np.maximum(fill, 0, out=fill)
    background *= fill
    canvas += background
    total += fill
    image = np.divide(canvas, total, out=canvas)
    timings["stack"] = time.perf_counter() - start

    # 6. Post-processing.
    start = time.perf_counter()
    channel_shifts = None
    if opts.rgb_align and image.ndim == 3:
        image, channel_shifts = align_channels(image)
    if opts.sharpen:
        image = unsharp_layers(image, opts.sharpen)
    timings["post"] = time.perf_counter() - start
    timings["total"] = sum(timings.values())
    pool.shutdown()

    log = {
        "source": str(source.path),
        "frames": count,
        "frames_registered": int(usable.sum()),
        "align_mode": mode,
        "alignment_patch": patch_box,
        "common_area": {"top": y_lo, "left": x_lo, "height": area[0], "width": area[1]},
        "frames_per_point": n_stack,
        "reference_frames": n_reference,
        "alignment_points": n_points,
        "points_dropped": dropped,
        "shift_failures": int(failures.sum()),
        "shifts_measured": int(contributions.sum() + failures.sum()),
        "best_frames": [int(i) for i in order[:10]],
        "scores": [round(float(s), 6) for s in scores],
        "global_shifts": np.round(shifts, 3).tolist(),
        "channel_shifts": channel_shifts,
        "options": asdict(opts),
        "timings_s": {key: round(value, 4) for key, value in timings.items()},
        "output_shape": list(image.shape),
    }
    return StackResult(image=image.astype(np.float32, copy=False), log=log)
