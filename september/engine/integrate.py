"""Integration of registered frames into one master: normalisation, weights, pixel rejection.

The stack is processed in chunks of rows, so the frames may be ``np.memmap`` views of files on disk
and 100+ full-size frames fit in a fixed memory budget. Within a chunk every pixel's values are
sorted once; each rejection algorithm then only moves two indices (the lowest and highest kept
value), and the means and deviations of a kept range come from prefix sums, so an iteration costs a
few passes over the chunk instead of a masked median. The kept values are finally averaged with the
frame weights in their original order, which also gives per-frame and per-pixel rejection counts.

Rejection choices follow common practice: percentile clipping for <= 6 frames, sigma clipping for
7, winsorized sigma clipping (clamp at median +- 1.5 sigma, sigma = 1.134 * sd, iterate to < 0.05%
change) from 8 frames and linear fit clipping (fit the sorted stack, sigma = mean |residual|) from
25 frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

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
BYTES_PER_VALUE = 48  # working bytes per stacked value (values, sorted copy, prefix sums, masks)
MAX_ITERATIONS = 10
WINSOR_CLAMP = 1.5  # sigmas at which winsorized clipping clamps the values
WINSOR_CORRECTION = 1.134  # makes the winsorized standard deviation unbiased for a normal sample
WINSOR_TOLERANCE = 5e-4  # relative change of sigma that ends the winsorization
MIN_KEPT = 2  # rejection never leaves fewer values than this for a pixel

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


def frame_stats(data: np.ndarray, *, max_samples: int = 2_000_000) -> FrameStats:
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


def signal_ratios(frames: Sequence[np.ndarray], stats: Sequence[FrameStats]) -> np.ndarray:
    """Each frame's signal above its background relative to the first frame's (transparency).

    Frames are averaged in 4 x 4 blocks to beat the noise; the ratio is the median of
    (frame - location) / (reference - location) over blocks where the reference shows signal
    (above 10 block-noise sigmas). A frame whose sky holds too little signal gets 1.
    """

    def blocks(frame: np.ndarray) -> np.ndarray:
        h, w = (frame.shape[0] // 4) * 4, (frame.shape[1] // 4) * 4
        data = np.asarray(frame[:h, :w], np.float32).reshape(h // 4, 4, w // 4, 4)
        return data.mean(axis=(1, 3))

    reference = blocks(frames[0]) - stats[0].location
    threshold = 10.0 * stats[0].noise / 4.0
    signal = np.isfinite(reference) & (reference > threshold)
    ratios = [1.0]
    for frame, stat in zip(frames[1:], stats[1:], strict=True):
        values = blocks(frame) - stat.location
        good = signal & np.isfinite(values)
        if good.sum() < 20:
            ratios.append(1.0)
            continue
        ratio = float(np.median(values[good] / reference[good]))
        ratios.append(ratio if ratio > 0.05 else 1.0)
    return np.array(ratios)


def integrate(
    frames: Sequence[np.ndarray],
    *,
    rejection: str = "auto",
    normalisation: str = "additive-scaling",
    weights: Sequence[float] | np.ndarray | str = "noise",
    fwhm: Sequence[float | None] | None = None,
    low_sigma: float | None = None,
    high_sigma: float | None = None,
    percentile_low: float = 0.2,
    percentile_high: float = 0.1,
    memory_limit: int = MEMORY_LIMIT,
    progress: Progress | None = None,
) -> IntegrationResult:
    """Integrate equally shaped 2-D frames (arrays or memmaps; NaN marks pixels without data).

    ``weights`` is a sequence of per-frame weights or a weighting mode of :func:`frame_weights`.
    ``low_sigma``/``high_sigma`` default to 4/3 sigma for sigma and winsorized clipping and 5/5
    mean deviations for linear fit clipping. ``progress(done_rows, total_rows)`` is called after
    each chunk.
    """
    if not frames:
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
    stats = [frame_stats(f) for f in frames]
    signal = signal_ratios(frames, stats) if normalisation == "additive-scaling" else None
    if isinstance(weights, str):
        w = frame_weights(
            stats, fwhm=fwhm, mode=weights, normalisation=normalisation, signal=signal
        )
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(w >= 0) or w.sum() <= 0:
            raise ValueError("weights must be one non-negative number per frame, not all zero")
    offsets, factors = _normalisation(stats, normalisation, signal)

    height, width = shape
    rows_per_chunk = max(1, min(height, memory_limit // (BYTES_PER_VALUE * n * width)))
    image = np.empty(shape, np.float32)
    low_map = np.zeros(shape, np.uint16)
    high_map = np.zeros(shape, np.uint16)
    per_frame = np.zeros(n, np.int64)
    valid_per_frame = np.zeros(n, np.int64)
    clip = _Clipper(method, low_sigma, high_sigma, percentile_low, percentile_high)
    for start in range(0, height, rows_per_chunk):
        stop = min(height, start + rows_per_chunk)
        values = np.empty((stop - start) * width * n, np.float32).reshape(-1, n)
        for i, frame in enumerate(frames):
            chunk = np.asarray(frame[start:stop], dtype=np.float32).reshape(-1)
            values[:, i] = (chunk - offsets[i]) * factors[i] + offsets[0]
        combined, low, high = _combine(values, w, clip)
        image[start:stop] = combined.reshape(stop - start, width)
        low_map[start:stop] = low.sum(axis=1).reshape(stop - start, width)
        high_map[start:stop] = high.sum(axis=1).reshape(stop - start, width)
        per_frame += low.sum(axis=0) + high.sum(axis=0)
        valid_per_frame += np.isfinite(values).sum(axis=0)
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


def _combine(
    values: np.ndarray, weights: np.ndarray, clip: _Clipper
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean of the kept values of each row of ``values`` (pixels x frames)."""
    finite = np.isfinite(values)
    if clip.method == "none":
        keep = finite
        low = high = np.zeros_like(finite)
    else:
        lo_value, hi_value = clip.bounds(values)
        low = finite & (values < lo_value[:, None])
        high = finite & (values > hi_value[:, None])
        keep = finite & ~low & ~high
    w = np.where(keep, weights.astype(np.float32), np.float32(0))
    total = w.sum(axis=1)
    summed = np.where(keep, values, np.float32(0))
    summed *= w
    with np.errstate(invalid="ignore", divide="ignore"):
        combined = summed.sum(axis=1) / total
    return combined.astype(np.float32), low, high


class _Clipper:
    """Per-pixel bounds of the kept values for one rejection algorithm."""

    def __init__(self, method: str, low: float, high: float, p_low: float, p_high: float) -> None:
        self.method, self.low, self.high = method, low, high
        self.p_low, self.p_high = p_low, p_high

    def bounds(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.sort(values, axis=1)  # NaN sort last
        n = np.isfinite(s).sum(axis=1)
        stack = _SortedStack(s, n)
        if self.method == "percentile":
            a, b = stack.percentile(self.p_low, self.p_high)
        elif self.method == "sigma":
            a, b = stack.clip(self.low, self.high, stack.mean_sigma)
        elif self.method == "winsorized":
            a, b = stack.clip(self.low, self.high, stack.winsorized_sigma)
        else:
            a, b = stack.linear_fit(self.low, self.high)
        idx = np.arange(len(s))
        empty = b <= a
        lo_value = np.where(empty, -np.inf, stack.at(idx, np.minimum(a, s.shape[1] - 1)))
        hi_value = np.where(empty, np.inf, stack.at(idx, np.maximum(b - 1, 0)))
        return lo_value, hi_value


class _SortedStack:
    """Sorted pixel values (pixels x frames, NaN last) with prefix sums for range statistics.

    Methods take ``idx``, the pixels (rows) to work on, so iterations touch only the pixels whose
    kept range still changes.
    """

    def __init__(self, s: np.ndarray, n: np.ndarray) -> None:
        self.s, self.n = s, n.astype(np.int64)
        clean = np.where(np.isfinite(s), s, 0).astype(np.float64)
        zero = np.zeros((len(s), 1))
        self.c1 = np.concatenate([zero, np.cumsum(clean, axis=1)], axis=1)
        self.c2 = np.concatenate([zero, np.cumsum(clean * clean, axis=1)], axis=1)

    def at(self, idx: np.ndarray, index: np.ndarray) -> np.ndarray:
        return self.s[idx, index]

    def median(self, idx: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        last = np.maximum(b - 1, a)
        return 0.5 * (self.at(idx, (a + last) // 2) + self.at(idx, (a + last + 1) // 2))

    def count_below(
        self, idx: np.ndarray, threshold: np.ndarray, *, inclusive: bool = False
    ) -> np.ndarray:
        """How many finite values of each pixel are < threshold (<= with ``inclusive``)."""
        t = threshold.astype(np.float32)[:, None]
        rows = self.s[idx]
        return ((rows <= t) if inclusive else (rows < t)).sum(axis=1)

    def range_sums(
        self, idx: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        s1 = self.c1[idx, b] - self.c1[idx, a]
        s2 = self.c2[idx, b] - self.c2[idx, a]
        return s1, s2

    def mean_sigma(
        self, idx: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Median and standard deviation of the kept range."""
        count = np.maximum(b - a, 1)
        s1, s2 = self.range_sums(idx, a, b)
        mean = s1 / count
        var = np.maximum(s2 / count - mean * mean, 0.0)
        return self.median(idx, a, b), np.sqrt(var * count / np.maximum(count - 1, 1))

    def winsorized_sigma(
        self, idx: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Median and winsorized standard deviation (Huber's iteration) of the kept range."""
        centre, sigma = self.mean_sigma(idx, a, b)
        todo = np.arange(len(idx))
        for _ in range(MAX_ITERATIONS):
            i, aa, bb, c = idx[todo], a[todo], b[todo], centre[todo]
            count = np.maximum(bb - aa, 1)
            lower = c - WINSOR_CLAMP * sigma[todo]
            upper = c + WINSOR_CLAMP * sigma[todo]
            n_low = np.clip(self.count_below(i, lower) - aa, 0, count)
            n_high = np.clip(bb - self.count_below(i, upper, inclusive=True), 0, count - n_low)
            s1, s2 = self.range_sums(i, aa + n_low, bb - n_high)
            s1 = s1 + n_low * lower + n_high * upper
            s2 = s2 + n_low * lower**2 + n_high * upper**2
            mean = s1 / count
            var = np.maximum(s2 / count - mean * mean, 0.0) * count / np.maximum(count - 1, 1)
            new_sigma = WINSOR_CORRECTION * np.sqrt(var)
            change = np.abs(new_sigma - sigma[todo]) / np.maximum(sigma[todo], 1e-30)
            sigma[todo] = new_sigma
            todo = todo[change >= WINSOR_TOLERANCE]
            if todo.size == 0:
                break
        return centre, sigma

    def clip(
        self,
        low: float,
        high: float,
        estimator: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Iterated clipping of the kept range [a, b) until no pixel changes."""
        a = np.zeros(len(self.s), np.int64)
        b = self.n.copy()
        todo = np.arange(len(self.s))
        for _ in range(MAX_ITERATIONS):
            aa, bb = a[todo], b[todo]
            centre, sigma = estimator(todo, aa, bb)
            new_a = np.maximum(aa, self.count_below(todo, centre - low * sigma))
            new_b = np.minimum(bb, self.count_below(todo, centre + high * sigma, inclusive=True))
            ok = (new_b - new_a) >= np.minimum(MIN_KEPT, self.n[todo])
            new_a, new_b = np.where(ok, new_a, aa), np.where(ok, new_b, bb)
            changed = (new_a != aa) | (new_b != bb)
            a[todo], b[todo] = new_a, new_b
            todo = todo[changed]
            if todo.size == 0:
                break
        return a, b

    def percentile(self, p_low: float, p_high: float) -> tuple[np.ndarray, np.ndarray]:
        """Reject values below median * (1 - p_low) or above median * (1 + p_high)."""
        idx = np.arange(len(self.s))
        a = np.zeros(len(self.s), np.int64)
        b = self.n.copy()
        centre = self.median(idx, a, b)
        scale = np.abs(centre)
        new_a = self.count_below(idx, centre - p_low * scale)
        new_b = self.count_below(idx, centre + p_high * scale, inclusive=True)
        ok = (new_b - new_a) >= np.minimum(MIN_KEPT, self.n)
        return np.where(ok, new_a, a), np.where(ok, new_b, b)

    def linear_fit(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """Fit a line to the sorted kept values; reject those off it by more than k mean |res|."""
        width = self.s.shape[1]
        index = np.arange(width, dtype=np.float64)[None, :]
        a = np.zeros(len(self.s), np.int64)
        b = self.n.copy()
        todo = np.arange(len(self.s))
        for _ in range(MAX_ITERATIONS):
            aa, bb = a[todo], b[todo]
            values = self.s[todo].astype(np.float64)
            kept = (index >= aa[:, None]) & (index < bb[:, None])
            values = np.where(kept, values, 0.0)
            count = np.maximum(kept.sum(axis=1), 1)
            x_mean = (index * kept).sum(axis=1) / count
            y_mean = values.sum(axis=1) / count
            dx = np.where(kept, index - x_mean[:, None], 0)
            slope = (dx * values).sum(axis=1) / np.maximum((dx * dx).sum(axis=1), 1e-30)
            residual = values - (y_mean[:, None] + slope[:, None] * (index - x_mean[:, None]))
            sigma = (np.abs(residual) * kept).sum(axis=1) / count
            good = kept & (residual >= -low * sigma[:, None]) & (residual <= high * sigma[:, None])
            any_good = good.any(axis=1)
            new_a = np.where(any_good, np.argmax(good, axis=1), aa)
            new_b = np.where(any_good, width - np.argmax(good[:, ::-1], axis=1), bb)
            ok = (new_b - new_a) >= np.minimum(MIN_KEPT, self.n[todo])
            new_a, new_b = np.where(ok, new_a, aa), np.where(ok, new_b, bb)
            changed = (new_a != aa) | (new_b != bb)
            a[todo], b[todo] = new_a, new_b
            todo = todo[changed]
            if todo.size == 0:
                break
        return a, b
