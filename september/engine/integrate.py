"""Integration of registered frames into one master: normalisation, weights, pixel rejection.

The stack is processed in chunks of rows, read in place from a cube of frames (such as a memory map
of registered frames on disk) or copied from separate frames into one reused buffer, so 100+
full-size frames fit in a fixed memory budget. The compiled kernels of
:mod:`september.engine.rejection` normalise each value as they read it (additive with scaling by
default: each frame's sky level is moved to the reference's and its signal scaled to the
reference's transparency), reject and average pixel by pixel, and count what they rejected per
pixel and per frame.

Rejection choices follow common practice: percentile clipping for <= 6 frames, sigma clipping for
7, winsorized sigma clipping from 8 frames and linear fit clipping from 25 frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from september.engine.rejection import combine_stack

__all__ = [
    "NORMALISATIONS",
    "REJECTIONS",
    "FrameStats",
    "IntegrationResult",
    "auto_rejection",
    "frame_stats",
    "frame_weights",
    "integrate",
    "signal_ratios",
]

REJECTIONS = ("none", "percentile", "sigma", "winsorized", "linear-fit")
NORMALISATIONS = ("additive-scaling", "additive", "multiplicative", "none")
MEMORY_LIMIT = 1 << 30  # bytes of working memory for one chunk of the stack
BYTES_PER_VALUE = 4  # bytes per stacked value paged in for one chunk

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FrameStats:
    """Robust statistics of one frame: location, scale (both ADU) and pixel noise (ADU rms)."""

    location: float
    scale: float
    noise: float


@dataclass
class IntegrationResult:
    """An integrated image with its rejection maps and statistics."""

    image: np.ndarray
    rejected_low: np.ndarray
    rejected_high: np.ndarray
    weights: np.ndarray
    frame_rejection: np.ndarray  # fraction of each frame's valid pixels rejected
    rejection: str
    normalisation: str
    low_sigma: float
    high_sigma: float
    stats: list[FrameStats] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        """Rejection statistics for headers and reports (JSON-safe)."""
        total = self.image.size * len(self.weights)
        return {
            "frames": len(self.weights),
            "rejection": self.rejection,
            "normalisation": self.normalisation,
            "low_sigma": self.low_sigma,
            "high_sigma": self.high_sigma,
            "rejected_low_pct": 100.0 * float(self.rejected_low.sum()) / max(total, 1),
            "rejected_high_pct": 100.0 * float(self.rejected_high.sum()) / max(total, 1),
        }


def auto_rejection(count: int) -> str:
    """The rejection algorithm suited to ``count`` frames."""
    if count < 3:
        return "none"
    if count <= 6:
        return "percentile"
    if count == 7:
        return "sigma"
    if count < 25:
        return "winsorized"
    return "linear-fit"


def frame_stats(data: np.ndarray, *, max_samples: int = 100_000) -> FrameStats:
    """Median, MAD-based scale and first-difference noise of a frame (NaN pixels ignored).

    Large frames are sampled on a regular row grid so the cost stays bounded.
    """
    step = max(1, int(np.ceil(data.size / max_samples)))
    rows = np.asarray(data[::step] if step > 1 else data, dtype=np.float32)
    values = rows[np.isfinite(rows)]
    if values.size == 0:
        raise ValueError("the frame has no finite pixels")
    location = float(np.median(values))
    scale = 1.4826 * float(np.median(np.abs(values - location)))
    diffs = np.diff(rows, axis=1)
    diffs = diffs[np.isfinite(diffs)]
    noise = 1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / np.sqrt(2.0)
    return FrameStats(location, max(scale, 1e-12), max(noise, 1e-12))


def frame_weights(
    stats: Sequence[FrameStats],
    *,
    fwhm: Sequence[float | None] | None = None,
    mode: str = "noise",
    normalisation: str = "additive-scaling",
    signal: Sequence[float] | None = None,
) -> np.ndarray:
    """Integration weights, normalised to a maximum of 1.

    ``noise``: 1 / sigma^2 of the frame after normalisation (noise-based weighting).
    ``fwhm``: 1 / FWHM^2 (the peak signal of a star scales as 1 / FWHM^2).
    ``psf``: both, 1 / (FWHM^2 sigma^2): the weight that maximises point-source peak SNR.
    ``none``: equal weights.
    """
    if mode not in ("noise", "fwhm", "psf", "none"):
        raise ValueError(f"unknown weighting {mode!r}; use noise, fwhm, psf or none")
    n = len(stats)
    weights = np.ones(n)
    if mode in ("noise", "psf"):
        factors = _scale_factors(stats, normalisation, signal)
        sigma = np.array([s.noise for s in stats]) * factors
        weights /= sigma**2
    if mode in ("fwhm", "psf"):
        values = np.array([np.nan if f is None else float(f) for f in (fwhm or [None] * n)])
        if np.isfinite(values).any():
            values = np.where(np.isfinite(values), values, np.nanmedian(values))
            weights /= values**2
    return weights / weights.max()


def _scale_factors(
    stats: Sequence[FrameStats], normalisation: str, signal: Sequence[float] | None = None
) -> np.ndarray:
    reference = stats[0]
    if normalisation == "additive-scaling":
        if signal is None:
            return np.ones(len(stats))
        return np.array([signal[0] / s for s in signal])
    if normalisation == "multiplicative":
        return np.array([reference.location / s.location for s in stats])
    return np.ones(len(stats))


def signal_ratios(
    frames: Sequence[np.ndarray], stats: Sequence[FrameStats], *, max_blocks: int = 250_000
) -> np.ndarray:
    """Each frame's signal above its background relative to the first frame's (transparency).

    Frames are averaged in 4 x 4 blocks to beat the noise (at most ``max_blocks`` blocks per frame,
    on a regular grid of block rows). The typical frame is the per-block median of all frames, so
    a satellite trail or a cosmic-ray shower in any one frame, the first included, neither selects
    nor biases blocks. A frame's ratio is the median of (frame - location) / (typical - location)
    over blocks where the typical frame shows signal (above 10 block-noise sigmas), divided by the
    first frame's. A frame whose sky holds too little signal gets 1.
    """
    height, width = (frames[0].shape[0] // 4) * 4, (frames[0].shape[1] // 4) * 4
    step = max(1, int(np.ceil((height // 4) * (width // 4) / max_blocks)))

    def blocks(frame: np.ndarray, stat: FrameStats) -> np.ndarray:
        rows = frame[:height, :width].reshape(height // 4, 4, width)[::step]  # the rows used
        data = np.ascontiguousarray(rows, np.float32).reshape(-1, width)
        means = cv2.resize(data, (width // 4, data.shape[0] // 4), interpolation=cv2.INTER_AREA)
        return means.reshape(-1) - np.float32(stat.location)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        values = np.stack(list(pool.map(blocks, frames, stats)))
    typical = np.median(values, axis=0) if len(frames) >= 3 else values[0]
    threshold = 10.0 * float(np.median([s.noise for s in stats])) / 4.0
    signal = np.isfinite(typical) & (typical > threshold)
    ratios = []
    for row in values:
        good = signal & np.isfinite(row)
        ratio = float(np.median(row[good] / typical[good])) if good.sum() >= 20 else np.nan
        ratios.append(ratio if ratio > 0.05 else np.nan)
    ratios = np.array(ratios)
    if not np.isfinite(ratios[0]):
        return np.ones(len(frames))
    return np.where(np.isfinite(ratios), ratios / ratios[0], 1.0)


def integrate(
    frames: Sequence[np.ndarray] | np.ndarray,
    *,
    select: Sequence[int] | None = None,
    rejection: str = "auto",
    normalisation: str = "additive-scaling",
    weights: Sequence[float] | np.ndarray | str = "noise",
    fwhm: Sequence[float | None] | None = None,
    noise: Sequence[float] | None = None,
    low_sigma: float | None = None,
    high_sigma: float | None = None,
    percentile_low: float = 0.2,
    percentile_high: float = 0.1,
    memory_limit: int = MEMORY_LIMIT,
    progress: Progress | None = None,
) -> IntegrationResult:
    """Integrate equally shaped 2-D frames (NaN marks pixels without data).

    ``frames`` is a sequence of 2-D arrays or a 3-D cube (frame, row, column) such as a memory map;
    a cube is read in place, and ``select`` picks its frames without copying them. Frames given as
    a sequence are copied chunk by chunk into one reused buffer.

    ``weights`` is a sequence of per-frame weights or a weighting mode of :func:`frame_weights`.
    ``noise`` (per-frame pixel noise) replaces the noise measured on the frames for weighting:
    pass the noise of the frames before registration, since resampling smooths it by an amount
    that depends on each frame's sub-pixel shift. ``low_sigma``/``high_sigma`` default to 4/3
    sigma for sigma and winsorized clipping and 5/5 mean deviations for linear fit clipping.
    ``progress(done_rows, total_rows)`` is called after each chunk.
    """
    cube = frames if isinstance(frames, np.ndarray) and frames.ndim == 3 else None
    if cube is not None:
        chosen = np.arange(len(cube)) if select is None else np.asarray(select, np.int64)
        frames = [cube[i] for i in chosen]
    if len(frames) == 0:
        raise ValueError("no frames to integrate")
    shape = frames[0].shape
    if any(f.shape != shape for f in frames) or len(shape) != 2:
        raise ValueError("all frames must be 2-D and of the same shape")
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {normalisation!r}; use one of {NORMALISATIONS}")
    n = len(frames)
    method = auto_rejection(n) if rejection == "auto" else rejection
    if method not in REJECTIONS:
        raise ValueError(f"unknown rejection {rejection!r}; use auto or one of {REJECTIONS}")
    default_low, default_high = (5.0, 5.0) if method == "linear-fit" else (4.0, 3.0)
    low_sigma = default_low if low_sigma is None else low_sigma
    high_sigma = default_high if high_sigma is None else high_sigma
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        stats = list(pool.map(frame_stats, frames))
    signal = signal_ratios(frames, stats) if normalisation == "additive-scaling" else None
    if isinstance(weights, str):
        weighting = stats
        if noise is not None:  # noise measured before resampling, which smooths it unevenly
            weighting = [
                FrameStats(s.location, s.scale, float(v)) for s, v in zip(stats, noise, strict=True)
            ]
        w = frame_weights(
            weighting, fwhm=fwhm, mode=weights, normalisation=normalisation, signal=signal
        )
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(w >= 0) or w.sum() <= 0:
            raise ValueError("weights must be one non-negative number per frame, not all zero")
    offsets, factors = _normalisation(stats, normalisation, signal)
    base = float(offsets[0])
    # sigma is never taken below the frames' pixel noise (see september.engine.rejection)
    floor = float(np.sqrt(np.mean((np.array([s.noise for s in stats]) * factors) ** 2)))

    height, width = shape
    # a chunk of rows bounds what is paged in (or copied) at a time
    rows_per_chunk = max(1, min(height, memory_limit // (BYTES_PER_VALUE * n * width)))
    image = np.empty(shape, np.float32)
    low_map = np.empty(shape, np.uint16)
    high_map = np.empty(shape, np.uint16)
    per_frame = np.zeros(n, np.int64)
    valid_per_frame = np.zeros(n, np.int64)
    in_place = cube is not None and cube.dtype == np.float32 and cube.flags.c_contiguous
    buffer = None if in_place else np.empty((n, rows_per_chunk * width), np.float32)
    for start in range(0, height, rows_per_chunk):
        stop = min(height, start + rows_per_chunk)
        pixels = slice(start * width, stop * width)
        if in_place:
            values, rows = cube[:, start:stop].reshape(len(cube), -1), chosen
        else:
            size = pixels.stop - pixels.start
            values, rows = buffer.reshape(-1)[: n * size].reshape(n, size), None  # contiguous
            for i, frame in enumerate(frames):
                values[i] = np.asarray(frame[start:stop], np.float32).reshape(-1)
        _, _, _, rejected, valid = combine_stack(
            values,
            w,
            method,
            rows=rows,
            low=low_sigma,
            high=high_sigma,
            p_low=percentile_low,
            p_high=percentile_high,
            offsets=offsets,
            factors=factors,
            base=base,
            noise_floor=floor,
            out=(
                image.reshape(-1)[pixels],
                low_map.reshape(-1)[pixels],
                high_map.reshape(-1)[pixels],
            ),
        )
        per_frame += rejected
        valid_per_frame += valid
        if progress:
            progress(stop, height)
    return IntegrationResult(
        image=image,
        rejected_low=low_map,
        rejected_high=high_map,
        weights=w,
        frame_rejection=per_frame / np.maximum(valid_per_frame, 1),
        rejection=method,
        normalisation=normalisation,
        low_sigma=low_sigma,
        high_sigma=high_sigma,
        stats=stats,
    )


def _normalisation(
    stats: list[FrameStats], mode: str, signal: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (location, factor) so that normalised = (x - location) * factor + location_ref.

    ``multiplicative``: x * ref / loc, which is the same formula with factor ref / loc.
    """
    locations = np.array([s.location for s in stats])
    factors = _scale_factors(stats, mode, signal)
    if mode == "none":
        return np.zeros(len(stats)), factors
    return locations, factors
