"""Local shifts and patch stacks at the alignment points, the lucky stacker's heaviest stage, kept
in a module of its own so that its batching into few large OpenCV calls can be read in one place.

Point by point, the search windows of all the point's frames go side by side into one image,
which is blurred and correlated with the point's template in one call each, and all peaks are
found at once; the shift is searched within +-``FIRST_SEARCH`` px, then (peaks on that border)
within the full search width the same way. Windows that leave the frame are measured one by one.
Each found patch is resampled at its sub-pixel place, and the patch stacks are blended with
smooth Hann weights over a globally aligned background.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from september.lucky.align import Shift, match_shift, stacked_peaks
from september.lucky.frames import luminance
from september.lucky.pixels import FramePixels
from september.lucky.quality import blur
from september.lucky.resample import KERNEL_STEPS, interpolation_kernel

__all__ = ["PointStacker", "blend"]

FIRST_SEARCH = 4
"""Local shifts are searched within +-4 px first, and within the full width only on a border hit."""

SHIFT_PRIOR = 3e-4
"""Penalty per px squared subtracted from the correlation when local shifts are measured: a weak
prior for small shifts. It hardly moves a clear peak (bias well under 0.05 px) but decides where
the correlation is a flat ridge, e.g. along a planet's band, where the peak would otherwise wander
many px along the band and put the patch in the wrong place."""

BLUR_MARGIN = 3
"""Extra pixels around a region so that the 7x7 blur is exact where shifts are measured."""

BACKGROUND_WEIGHT = 0.3
"""Blend weight below which the background image starts to fill in (AP window peak is 1)."""


class PointStacker:
    """Measures the local shifts of each alignment point's chosen frames and sums their patches.

    ``centres`` are the points' (y, x) on the reference (common-area pixels), ``bases`` each
    frame's rounded global shift plus the common area's corner (frame pixels), ``members`` the
    frames chosen at each point; the patch of a point spans ``half_patch`` px each side of it.
    """

    def __init__(
        self,
        frames: FramePixels,
        reference: np.ndarray,
        centres: np.ndarray,
        bases: list[list[int]],
        members: list[list[int]],
        *,
        box: int,
        half_patch: int,
        search_width: int,
        n_stack: int,
        scale: float,
        flags: int,
        taps: int,
        channels: tuple[int, ...],
    ) -> None:
        self.frames = frames
        self.bases = bases
        self.members = members
        self.box = box
        self.half_box = box // 2
        self.half_patch = half_patch
        self.n_stack = n_stack
        self.scale = scale
        self.flags = flags
        self.taps = taps
        self.channels = channels
        self.height, self.width = frames.source.shape[:2]
        self.patch = 2 * half_patch + 1
        self.out_patch = round(self.patch * scale)
        ref_blur = blur(reference)
        origins = centres - self.half_box
        self.templates = [ref_blur[y : y + box, x : x + box] for y, x in origins]
        self.search = search_width
        self.first = min(FIRST_SEARCH, search_width)
        self.margin = search_width + BLUR_MARGIN
        self.points_yx = centres.tolist()
        self.lead = taps // 2 - 1
        self.extent = self.patch + taps - 1
        self.fast_resample = frames.direct and scale == 1.0

    def stack_point(self, point: int) -> tuple[np.ndarray, int]:
        """The sum of the point's shifted patches (on the output grid) and how many there are."""
        frames, first, search = self.frames, self.first, self.search
        found, retry, outside = self.batch_shifts(point, self.members[point], first)
        singles = [(index, (first, search)) for index in outside]
        if retry and first < search:
            more, _, outside = self.batch_shifts(point, retry, search)
            found += more
            singles += [(index, (search,)) for index in outside]
        for index, reaches in singles:
            shift = self.one_shift(point, index, reaches)
            if shift is not None:
                found.append((index, shift.dy, shift.dx))
        # Resampling: raw pixels well inside the frame go through the separable filter straight
        # into a stack of patches that is summed once; anything else through ``shifted``.
        cy0, cx0 = self.points_yx[point]
        half_patch, out_patch, patch = self.half_patch, self.out_patch, self.patch
        lead, extent, taps = self.lead, self.extent, self.taps
        height, width = self.height, self.width
        total = np.zeros((out_patch, out_patch, *self.channels), np.float32)
        filtered = frames.scratch("patches", (self.n_stack, extent, extent))
        done = 0
        for index, dy, dx in found:
            by, bx = self.bases[index]
            top, left = cy0 + by - half_patch + dy, cx0 + bx - half_patch + dx
            y0, x0 = math.floor(top) - lead, math.floor(left) - lead
            if self.fast_resample and 0 <= y0 < height - extent and 0 <= x0 < width - extent:
                cv2.sepFilter2D(
                    frames.view(index)[y0 : y0 + extent, x0 : x0 + extent], cv2.CV_32F,
                    interpolation_kernel(round((left - x0 - lead) * KERNEL_STEPS), taps),
                    interpolation_kernel(round((top - y0 - lead) * KERNEL_STEPS), taps),
                    dst=filtered[done], anchor=(0, 0), borderType=cv2.BORDER_REFLECT,
                )  # fmt: skip
                done += 1
            else:
                total += frames.shifted(
                    frames.view(index), top, left, (out_patch, out_patch), self.scale, self.flags
                )
        if done:
            total += filtered[:done, :patch, :patch].sum(axis=0)
        return total, len(found)

    def one_shift(self, point: int, index: int, reaches: tuple[int, ...]) -> Shift | None:
        """The local shift of one frame at one point, searched on a region of the frame within
        each of ``reaches`` in turn until the peak is not on the border (None if it always is)."""
        frames, box, margin = self.frames, self.box, self.margin
        by, bx = self.bases[index]
        cy0, cx0 = self.points_yx[point]
        ty, tx = cy0 + by - self.half_box, cx0 + bx - self.half_box
        pixels, y0, x0 = frames.pixels(
            frames.view(index), ty - margin, tx - margin, box + 2 * margin, box + 2 * margin
        )
        blurred = blur(pixels if pixels.ndim == 2 else luminance(pixels))
        for reach in reaches:
            found = match_shift(
                blurred, self.templates[point], ty - y0, tx - x0, reach, SHIFT_PRIOR
            )
            if found.ok:
                return found
        return None

    def batch_shifts(
        self, point: int, indices: list[int], reach: int
    ) -> tuple[list[tuple[int, float, float]], list[int], list[int]]:
        """Local shifts of many frames at one point within +-``reach`` px, in one correlation.

        The frames' windows (with blur margins) go side by side into one image, which is blurred;
        the blurred search windows are packed without gaps (matchTemplate is markedly faster on a
        contiguous, gapless image) and correlated with the point's template at once. Returns the
        shifts found, the frames whose peak lies on the border, and those whose window leaves the
        frame.
        """
        frames, bases, half_box, n_stack = self.frames, self.bases, self.half_box, self.n_stack
        height, width = self.height, self.width
        cy0, cx0 = self.points_yx[point]
        window, seen = self.box + 2 * (reach + BLUR_MARGIN), self.box + 2 * reach
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
        corr = cv2.matchTemplate(packed, self.templates[point], cv2.TM_CCOEFF_NORMED)
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


def blend(
    sums: np.ndarray,
    contributions: np.ndarray,
    centres: np.ndarray,
    background: np.ndarray,
    *,
    half_patch: int,
    scale: float,
) -> np.ndarray:
    """The mean patches at the points blended with Hann weights, the background filling in where
    their weights fall below ``BACKGROUND_WEIGHT`` (``background`` is overwritten)."""
    out_patch = sums.shape[1]
    colour = background.ndim == 3
    weights = _window(out_patch)
    if colour:
        weights = weights[..., None]
    canvas = np.zeros(background.shape, np.float32)
    out_shape = background.shape[:2]
    total = np.zeros(out_shape if not colour else (*out_shape, 1), np.float32)
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
    return np.divide(canvas, total, out=canvas)


def _window(length: int) -> np.ndarray:
    """2-D Hann blending weights (never exactly zero) for a square patch."""
    hann = np.hanning(length + 2)[1:-1].astype(np.float32)
    return np.outer(hann, hann) + np.float32(1e-3)
