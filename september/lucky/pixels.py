"""Pixel access for the lucky stacker that allocates nothing frame-sized per frame.

Every stage reads frames through one ``FramePixels``: raw views, calibrated regions, half-resolution
copies and sub-pixel shifted grids, worked out in buffers private to each thread.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from september.lucky.frames import FrameSource, luminance
from september.lucky.quality import downsample
from september.lucky.resample import translate

__all__ = ["FramePixels"]


class FramePixels:
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

    def shifted(
        self,
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
        pixels, ry, rx = self.pixels(raw, iy, ix, height, width)
        return translate(pixels, top - ry, left - rx, shape, flags, scale, out)
