"""Surface and planet lucky imaging: many seeing-distorted frames in, one sharp image out.

The algorithm is PlanetarySystemStacker's, vectorised with OpenCV:

1. rank frames by overall sharpness (float Laplacian std, see ``quality``);
2. register all frames globally, by tracking the patch with the most structure on the best frame
   (normalised cross-correlation) or by centre of gravity for a planet on black sky;
3. average the best frames into a reference and lay an alignment-point (AP) mesh over it,
   dropping dim or featureless points;
4. per AP, rank frames by local contrast and keep the best N %, measuring each kept frame's local
   shift to sub-pixel precision (search-border hits count as failures and are left out);
5. average each AP's shifted patches (optionally on a 1.5x/2x "drizzle" grid) and blend them with
   smooth Hann weights, filling weakly covered pixels from a globally aligned background;
6. optionally align the colour channels and sharpen with layered unsharp masks.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from september.errors import BadFrameError
from september.lucky.align import (
    centre_of_gravity,
    find_structure_patch,
    is_isolated_object,
    match_shift,
)
from september.lucky.frames import FrameSource, luminance
from september.lucky.points import alignment_points
from september.lucky.quality import blur, frame_sharpness, laplacian_map, local_contrast
from september.lucky.sharpen import align_channels, unsharp_layers

__all__ = ["StackOptions", "StackResult", "stack_frames"]

Progress = Callable[[str, int, int], None]


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
    """Calibrated frames, kept in RAM when they fit in the memory limit, else re-read each time."""

    def __init__(self, source: FrameSource, limit_gb: float) -> None:
        self.source = source
        per_frame = int(np.prod(source.shape)) * 4
        self.cached = 2 * per_frame * len(source) <= limit_gb * 1e9
        self._store: dict[int, np.ndarray] = {}
        self._blurred: dict[int, np.ndarray] = {}

    def __getitem__(self, index: int) -> np.ndarray:
        frame = self._store.get(index)
        if frame is None:
            frame = self.source[index]
            if self.cached:
                self._store[index] = frame
        return frame

    def mono(self, index: int) -> np.ndarray:
        return luminance(self[index])

    def blurred(self, index: int) -> np.ndarray:
        """The mono frame through the 7x7 quality blur, also used to measure shifts (cached)."""
        frame = self._blurred.get(index)
        if frame is None:
            frame = blur(self.mono(index))
            if self.cached:
                self._blurred[index] = frame
        return frame


def _sample(
    frame: np.ndarray, top: float, left: float, shape: tuple[int, int], scale: float, flags: int
) -> np.ndarray:
    """Resample ``frame`` on a ``shape`` grid whose pixel (0, 0) covers (top, left) at ``scale``."""
    inverse = 1.0 / scale
    offset = 0.5 * inverse - 0.5
    matrix = np.array([[inverse, 0, left + offset], [0, inverse, top + offset]], dtype=np.float64)
    return cv2.warpAffine(
        frame, matrix, (shape[1], shape[0]), flags=flags | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip


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
    timings: dict[str, float] = {}
    flags = cv2.INTER_CUBIC if opts.interpolation == "cubic" else cv2.INTER_LINEAR

    # 1. Overall ranking.
    start = time.perf_counter()
    scores = np.empty(count)
    for index, score in enumerate(
        pool.map(
            lambda i: frame_sharpness(
                frames.blurred(i), normalise=opts.normalise_brightness, blurred=True
            ),
            range(count),
        )
    ):
        scores[index] = score
        report("rank", index + 1, count)
    order = np.argsort(-scores, kind="stable")
    timings["rank"] = time.perf_counter() - start

    # 2. Global registration against the best frame.
    start = time.perf_counter()
    best = frames.mono(int(order[0]))
    height, width = best.shape
    mode = opts.align_mode
    if mode == "auto":
        mode = "planet" if is_isolated_object(best) else "surface"
    shifts = np.zeros((count, 2))
    usable = np.ones(count, dtype=bool)
    patch_box = None
    if mode == "surface":
        search = opts.align_search_width
        size = (max(16, height // 3), max(16, width // 3))
        best_blur = frames.blurred(int(order[0]))
        top, left = find_structure_patch(best_blur, size, search)
        template = best_blur[top : top + size[0], left : left + size[1]]
        patch_box = [top, left, size[0], size[1]]

        def register(index: int):
            blurred = frames.blurred(index)
            found = match_shift(blurred, template, top, left, search)
            return found if found.ok else match_shift(blurred, template, top, left, 3 * search)

        for index, found in enumerate(pool.map(register, range(count))):
            shifts[index] = found.dy, found.dx
            usable[index] = found.ok
            report("align", index + 1, count)
    else:
        anchor = np.array(centre_of_gravity(frames.blurred(int(order[0]))))
        centres_of_gravity = pool.map(lambda i: centre_of_gravity(frames.blurred(i)), range(count))
        for index, centre in enumerate(centres_of_gravity):
            shifts[index] = np.array(centre) - anchor
            report("align", index + 1, count)
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
    reference = np.zeros(area, np.float32)
    background = None
    for rank, index in enumerate(ranked[: max(n_reference, n_stack)]):
        dy, dx = shifts[index]
        frame = frames[index]
        if rank < n_reference:
            reference += _sample(luminance(frame), y_lo + dy, x_lo + dx, area, 1.0, flags)
        if rank < n_stack:
            sampled = _sample(frame, y_lo + dy, x_lo + dx, out_shape, scale, flags)
            background = sampled if background is None else background + sampled
    reference /= n_reference
    assert background is not None
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
    selected: dict[int, list[int]] = {}
    if n_points:
        quality = np.full((count, n_points), -np.inf)

        def contrast(index: int) -> np.ndarray:
            offset = np.rint(shifts[index]).astype(int) + np.array([y_lo, x_lo])
            lap = laplacian_map(frames.blurred(index), stride=2, blurred=True)
            return local_contrast(lap, (centres + offset) // 2, max(1, half_box // 2))

        for done, (index, values) in enumerate(
            zip(ranked, pool.map(contrast, ranked), strict=True)
        ):
            quality[index] = values
            report("quality", done + 1, len(ranked))
        chosen = np.argsort(-quality, axis=0, kind="stable")[:n_stack]
        for point in range(n_points):
            for index in chosen[:, point]:
                selected.setdefault(int(index), []).append(point)
    timings["quality"] = time.perf_counter() - start

    # 5. Local shifts, patch stacks and blending.
    start = time.perf_counter()
    patch = 2 * half_patch + 1
    out_patch = round(patch * scale)
    channels = (3,) if source.is_colour else ()
    sums = np.zeros((n_points, out_patch, out_patch, *channels), np.float32)
    contributions = np.zeros(n_points, int)
    failures = np.zeros(n_points, int)
    ref_blur = blur(reference)
    templates = [
        ref_blur[y - half_box : y + half_box, x - half_box : x + half_box] for y, x in centres
    ]

    def patches(item: tuple[int, list[int]]) -> list[tuple[int, np.ndarray | None]]:
        index, points = item
        frame = frames[index]
        blurred = frames.blurred(index)
        base = np.rint(shifts[index]).astype(int)
        found_patches: list[tuple[int, np.ndarray | None]] = []
        for point in points:
            cy, cx = centres[point]
            top = cy - half_box + y_lo + base[0]
            left = cx - half_box + x_lo + base[1]
            found = match_shift(blurred, templates[point], top, left, opts.search_width)
            if not found.ok:
                found_patches.append((point, None))
                continue
            found_patches.append((point, _sample(
                frame, cy - half_patch + y_lo + base[0] + found.dy,
                cx - half_patch + x_lo + base[1] + found.dx, (out_patch, out_patch), scale, flags,
            )))  # fmt: skip
        return found_patches

    work = sorted(selected.items())
    for done, found_patches in enumerate(pool.map(patches, work)):
        for point, sampled in found_patches:
            if sampled is None:
                failures[point] += 1
            else:
                sums[point] += sampled
                contributions[point] += 1
        report("stack", done + 1, len(work))
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
    fill = np.clip(BACKGROUND_WEIGHT - total, 0, None)
    image = (canvas + fill * background) / (total + fill)
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
    return StackResult(image=image.astype(np.float32), log=log)
