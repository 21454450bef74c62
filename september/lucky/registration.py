"""Global registration of lucky-imaging frames against the best one, kept apart from the stacker
because it has two methods of its own and fixes the common area that every later stage works in.

A surface is registered by tracking the patch with the most structure on the best frame
(normalised cross-correlation at half resolution), a planet on black sky by its centre of gravity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from september.errors import BadFrameError
from september.lucky.align import (
    Shift,
    centre_of_gravity,
    find_structure_patch,
    is_isolated_object,
    match_shift,
)
from september.lucky.pixels import FramePixels

__all__ = ["Registration", "register_frames"]

Each = Callable[[Callable, Iterable], Iterator]
"""Maps a function over items in order (on a thread pool)."""


@dataclass
class Registration:
    """Each frame's global shift against the best frame and the area all frames share."""

    mode: str
    """"surface" or "planet": how the shifts were measured."""
    shifts: np.ndarray
    """Per frame (dy, dx) in full px: where the best frame's pixel (0, 0) lies on the frame."""
    usable: np.ndarray
    patch_box: list[int] | None
    """The tracked patch (top, left, height, width in full px) in surface mode."""
    top: int
    left: int
    area: tuple[int, int]
    """The common area: its corner on the best frame and its (height, width)."""

    @property
    def bases(self) -> np.ndarray:
        """Per frame, the common area's corner on the frame, rounded to whole px."""
        return np.rint(self.shifts).astype(int) + np.array([self.top, self.left])

    def common_area(self) -> dict[str, int]:
        return {"top": self.top, "left": self.left, "height": self.area[0], "width": self.area[1]}


def register_frames(
    frames: FramePixels,
    best: int,
    centres_of_gravity: np.ndarray | None,
    *,
    mode: str,
    search_width: int,
    min_size: int,
    each: Each,
    report: Callable[[str, int, int], None],
) -> Registration:
    """Register all frames against frame ``best`` at half resolution (shifts in full px).

    ``mode`` is "surface", "planet" or "auto" (decided on the best frame);
    ``centres_of_gravity`` are the frames' centres if already measured (half-resolution px).
    Raises ``BadFrameError`` if fewer than two frames register or their common area is narrower
    than ``min_size`` px.
    """
    count = len(frames.source)
    best_half = frames.half(best).copy()
    if mode == "auto":
        mode = "planet" if is_isolated_object(best_half) else "surface"
    if mode == "surface":
        shifts, usable, patch_box = _track_patch(frames, best_half, search_width, each, report)
    else:
        shifts = _follow_gravity(frames, best, centres_of_gravity, each, report)
        usable, patch_box = np.ones(count, dtype=bool), None
    if usable.sum() < 2:
        raise BadFrameError(
            "fewer than two frames could be registered; is the object in view?", reason="unaligned"
        )
    top, left, area = _common_area(shifts, usable, frames.source.shape[:2])
    if min(area) < min_size:
        raise BadFrameError(
            f"the area common to all frames is only {area[1]}x{area[0]} px; the object drifts too "
            "much. Trim the video to a steadier part.",
            reason="drift",
        )
    return Registration(mode, shifts, usable, patch_box, top, left, area)


def _track_patch(
    frames: FramePixels,
    best_half: np.ndarray,
    search_width: int,
    each: Each,
    report: Callable[[str, int, int], None],
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Shifts by normalised cross-correlation of the best frame's most structured patch (a third
    of the frame each way), whether each frame's peak was found, and the patch (top, left,
    height, width in full px)."""
    count = len(frames.source)
    search = max(1, math.ceil(search_width / 2))
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

    shifts = np.zeros((count, 2))
    usable = np.ones(count, dtype=bool)
    for index, found in enumerate(each(register, range(count))):
        shifts[index] = 2 * found.dy, 2 * found.dx
        usable[index] = found.ok
        report("align", index + 1, count)
    return shifts, usable, patch_box


def _follow_gravity(
    frames: FramePixels,
    best: int,
    centres: np.ndarray | None,
    each: Each,
    report: Callable[[str, int, int], None],
) -> np.ndarray:
    """Shifts by the centres of gravity, measured now unless ``centres`` are given."""
    count = len(frames.source)
    if centres is None:
        centres = np.zeros((count, 2))
        for index, centre in enumerate(
            each(lambda i: centre_of_gravity(frames.half(i)), range(count))
        ):
            centres[index] = centre
    shifts = 2 * (centres - centres[best])
    report("align", count, count)
    return shifts


def _common_area(
    shifts: np.ndarray, usable: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, tuple[int, int]]:
    """The corner (top, left) and (height, width) of the area of the best frame that every
    usable frame covers."""
    height, width = shape
    used = np.flatnonzero(usable)
    y_lo = math.ceil(max(0.0, -shifts[used, 0].min()))
    x_lo = math.ceil(max(0.0, -shifts[used, 1].min()))
    y_hi = math.floor(min(height - 1.0, height - 1.0 - shifts[used, 0].max()))
    x_hi = math.floor(min(width - 1.0, width - 1.0 - shifts[used, 1].max()))
    return y_lo, x_lo, (y_hi - y_lo + 1, x_hi - x_lo + 1)
