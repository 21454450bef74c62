"""Per-pixel rejection and weighted averaging of a stack, compiled with numba.

Each pixel's values are normalised as they are read (``(x - offset) * factor + base`` per frame)
and its finite values sorted once (insertion sort: stacks are small); a rejection algorithm then
only moves the bounds [a, b) of the kept range, and the kept values are averaged with their
frames' weights. Pixels are processed in parallel blocks. Algorithms:

- ``percentile``: reject values below median * (1 - p_low) or above median * (1 + p_high);
- ``sigma``: iterated clipping at median -/+ k sigma (standard deviation of the kept values);
- ``winsorized``: as sigma, with sigma from the winsorized whole sample (clamped at median +- 1.5
  sigma, sigma = 1.134 * sd, iterated to < 0.05% change), which needs no re-estimating once values
  are clipped (only the median moves);
- ``linear-fit``: fit a line to the sorted kept values against their rank, sigma = mean |residual|,
  reject the ends lying more than k sigma off the line.

Sigma estimated from a dozen values is itself noisy, and re-estimated on an already clipped sample
it shrinks: left alone, iterated clipping then runs away and throws out good values (a 12-frame
winsorized clip of pure Gaussian noise loses 2.4% of its SNR that way). The frames' measured pixel
noise is therefore a floor under sigma: a pixel is never clipped tighter than its noise says. The
floor also gives a fast path: a pixel whose values all lie within the clipping range computed from
the floor cannot lose any of them, so its sigma is never computed, which is the case for almost
every sky pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

__all__ = ["METHODS", "combine_stack"]

METHODS = {"none": 0, "percentile": 1, "sigma": 2, "winsorized": 3, "linear-fit": 4}
MAX_ITERATIONS = 10
WINSOR_CLAMP = 1.5
WINSOR_CORRECTION = 1.134
WINSOR_TOLERANCE = 5e-4
MIN_KEPT = 2
MEAN_DEVIATION = 0.7979  # mean absolute deviation of a Gaussian, in sigmas: sqrt(2 / pi)
BLOCK = 512  # pixels per parallel work item


@numba.njit(cache=True, inline="always")
def _median(v: np.ndarray, a: int, b: int) -> float:
    last = max(b - 1, a)
    return 0.5 * (v[(a + last) // 2] + v[(a + last + 1) // 2])


@numba.njit(cache=True, inline="always")
def _mean_sd(v: np.ndarray, a: int, b: int) -> tuple[float, float]:
    n = b - a
    if n <= 0:
        return 0.0, 0.0
    mean = 0.0
    for k in range(a, b):
        mean += v[k]
    mean /= n
    var = 0.0
    for k in range(a, b):
        var += (v[k] - mean) ** 2
    return mean, np.sqrt(var / max(n - 1, 1))


@numba.njit(cache=True)
def _winsorized_sigma(v: np.ndarray, a: int, b: int, centre: float) -> float:
    _, sigma = _mean_sd(v, a, b)
    n = b - a
    for _ in range(MAX_ITERATIONS):
        lower = centre - WINSOR_CLAMP * sigma
        upper = centre + WINSOR_CLAMP * sigma
        s1 = 0.0
        s2 = 0.0
        for k in range(a, b):
            x = min(max(v[k], lower), upper) - centre  # centred: no cancellation
            s1 += x
            s2 += x * x
        mean = s1 / n
        var = max(s2 / n - mean * mean, 0.0) * n / max(n - 1, 1)
        new_sigma = WINSOR_CORRECTION * np.sqrt(var)
        done = abs(new_sigma - sigma) <= WINSOR_TOLERANCE * max(sigma, 1e-30)
        sigma = new_sigma
        if done:
            break
    return sigma


@numba.njit(cache=True)
def _clip(
    v: np.ndarray, n: int, method: int, low: float, high: float, floor: float
) -> tuple[int, int]:
    a, b = 0, n
    sigma = 0.0
    for iteration in range(MAX_ITERATIONS):
        if b - a <= MIN_KEPT:
            break
        centre = _median(v, a, b)
        if method == 2:
            _, sigma = _mean_sd(v, a, b)
        elif iteration == 0:  # robust on the whole sample: not re-estimated on a clipped one
            sigma = _winsorized_sigma(v, a, b, centre)
        sigma = max(sigma, floor)
        lo, hi = centre - low * sigma, centre + high * sigma
        na, nb = a, b
        while na < nb and v[na] < lo:
            na += 1
        while nb > na and v[nb - 1] > hi:
            nb -= 1
        if nb - na < MIN_KEPT or (na == a and nb == b):
            break
        a, b = na, nb
    return a, b


@numba.njit(cache=True)
def _linear_fit(v: np.ndarray, n: int, low: float, high: float, floor: float) -> tuple[int, int]:
    a, b = 0, n
    for _ in range(MAX_ITERATIONS):
        m = b - a
        if m <= MIN_KEPT + 1:
            break
        sx = sy = sxx = sxy = 0.0
        for k in range(a, b):
            sx += k
            sy += v[k]
            sxx += k * k
            sxy += k * v[k]
        denominator = m * sxx - sx * sx
        slope = (m * sxy - sx * sy) / denominator if denominator != 0 else 0.0
        offset = (sy - slope * sx) / m
        sigma = 0.0
        for k in range(a, b):
            sigma += abs(v[k] - (offset + slope * k))
        sigma = max(sigma / m, MEAN_DEVIATION * floor)
        na, nb = a, b
        while na < nb and v[na] - (offset + slope * na) < -low * sigma:
            na += 1
        while nb > na and v[nb - 1] - (offset + slope * (nb - 1)) > high * sigma:
            nb -= 1
        if nb - na < MIN_KEPT or (na == a and nb == b):
            break
        a, b = na, nb
    return a, b


@numba.njit(cache=True, parallel=True)
def _combine(
    values: np.ndarray,
    rows: np.ndarray,
    offsets: np.ndarray,
    factors: np.ndarray,
    base: float,
    weights: np.ndarray,
    method: int,
    low: float,
    high: float,
    p_low: float,
    p_high: float,
    floor: float,
    combined: np.ndarray,
    low_count: np.ndarray,
    high_count: np.ndarray,
    frame_rejected: np.ndarray,
    frame_valid: np.ndarray,
) -> None:
    count = len(rows)
    pixels = combined.size
    blocks = (pixels + BLOCK - 1) // BLOCK
    for block in numba.prange(blocks):
        v = np.empty(count, np.float64)
        ids = np.empty(count, np.int64)
        first = block * BLOCK
        size = min(pixels, first + BLOCK) - first
        local = np.empty((size, count), np.float64)  # contiguous reads, frame by frame
        for i in range(count):
            row = rows[i]
            offset, factor = offsets[i], factors[i]
            for q in range(size):
                local[q, i] = (values[row, first + q] - offset) * factor + base
        untouched = 0  # pixels with every frame valid and kept
        for q in range(size):
            p = first + q
            n = 0
            smallest, largest = np.inf, -np.inf
            total = 0.0
            wsum = 0.0
            for i in range(count):
                x = local[q, i]
                if np.isfinite(x):
                    n += 1
                    smallest = min(smallest, x)
                    largest = max(largest, x)
                    total += weights[i] * x
                    wsum += weights[i]
            keep_all = n == count and (method == 0 or n <= MIN_KEPT)
            if n == count and not keep_all and method != 4:
                # nothing is clipped if the median lies within [lower, upper], which holds when
                # fewer than half the values lie outside (no sorting needed to know that)
                lower, upper = np.inf, -np.inf  # an empty range: no shortcut
                if method == 2 or method == 3:
                    lower, upper = largest - high * floor, smallest + low * floor
                elif smallest > 0:  # percentile: the bounds scale with the (positive) median
                    lower = largest / (1.0 + p_high)
                    upper = smallest / (1.0 - p_low) if p_low < 1.0 else np.inf
                if lower <= smallest and upper >= largest:
                    keep_all = True
                elif lower <= upper:
                    below, above = 0, 0
                    for i in range(count):
                        below += local[q, i] < lower
                        above += local[q, i] > upper
                    keep_all = 2 * below < n - 1 and 2 * above < n - 1
            if keep_all:
                combined[p] = total / wsum if wsum > 0 else np.nan
                low_count[p] = 0
                high_count[p] = 0
                untouched += 1
                continue
            n = 0
            for i in range(count):
                x = local[q, i]
                if np.isfinite(x):
                    # insertion sort as the values arrive
                    k = n
                    while k > 0 and v[k - 1] > x:
                        v[k] = v[k - 1]
                        ids[k] = ids[k - 1]
                        k -= 1
                    v[k] = x
                    ids[k] = i
                    n += 1
            a, b = 0, n
            if n > MIN_KEPT:
                if method == 1:
                    centre = _median(v, 0, n)
                    lo, hi = centre - p_low * abs(centre), centre + p_high * abs(centre)
                    while a < b and v[a] < lo:
                        a += 1
                    while b > a and v[b - 1] > hi:
                        b -= 1
                    if b - a < MIN_KEPT:
                        a, b = 0, n
                elif method == 2 or method == 3:
                    centre = _median(v, 0, n)
                    if v[0] < centre - low * floor or v[n - 1] > centre + high * floor:
                        a, b = _clip(v, n, method, low, high, floor)
                elif method == 4:
                    a, b = _linear_fit(v, n, low, high, floor)
            total = 0.0
            wsum = 0.0
            for k in range(a, b):
                w = weights[ids[k]]
                total += w * v[k]
                wsum += w
            for k in range(n):
                frame_valid[block, ids[k]] += 1
                if k < a or k >= b:
                    frame_rejected[block, ids[k]] += 1
            low_count[p] = a
            high_count[p] = n - b
            combined[p] = total / wsum if wsum > 0 else np.nan
        for i in range(count):
            frame_valid[block, i] += untouched


def combine_stack(
    values: np.ndarray,
    weights: np.ndarray,
    method: str,
    *,
    rows: Sequence[int] | None = None,
    low: float = 3.0,
    high: float = 3.0,
    p_low: float = 0.2,
    p_high: float = 0.1,
    offsets: np.ndarray | None = None,
    factors: np.ndarray | None = None,
    base: float = 0.0,
    noise_floor: float = 0.0,
    out: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise, reject and average a stack, pixel by pixel (NaN = no data).

    ``values`` is (frames, pixels), float32, each row contiguous: a view of a memory-mapped cube is
    read in place. ``rows`` picks the frames to combine (default: all), without copying. Frame i's
    values are used as ``(x - offsets[i]) * factors[i] + base`` and averaged with ``weights[i]``;
    ``noise_floor`` is the pixel noise (after normalisation) below which sigma is never taken.
    Returns the combined pixels (float32), the per-pixel counts of values rejected low and high
    (uint16), and per frame the number of its values rejected and of its valid values; ``out``
    gives three 1-D arrays of ``pixels`` elements to write the first three into.
    """
    if method not in METHODS:
        raise ValueError(f"unknown rejection {method!r}; use one of {', '.join(METHODS)}")
    if values.ndim != 2 or values.dtype != np.float32 or values.strides[1] != 4:
        values = np.ascontiguousarray(values, np.float32).reshape(len(values), -1)
    rows = np.arange(len(values)) if rows is None else np.asarray(rows, np.int64)
    count, pixels = len(rows), values.shape[1]
    offsets = np.zeros(count) if offsets is None else np.asarray(offsets, np.float64)
    factors = np.ones(count) if factors is None else np.asarray(factors, np.float64)
    blocks = (pixels + BLOCK - 1) // BLOCK
    if out is None:
        out = (
            np.empty(pixels, np.float32),
            np.empty(pixels, np.uint16),
            np.empty(pixels, np.uint16),
        )
    combined, low_count, high_count = out
    frame_rejected = np.zeros((blocks, count), np.int64)
    frame_valid = np.zeros((blocks, count), np.int64)
    _combine(
        values,
        rows,
        offsets,
        factors,
        float(base),
        np.asarray(weights, np.float64),
        METHODS[method],
        float(low),
        float(high),
        float(p_low),
        float(p_high),
        float(noise_floor),
        combined,
        low_count,
        high_count,
        frame_rejected,
        frame_valid,
    )
    return combined, low_count, high_count, frame_rejected.sum(axis=0), frame_valid.sum(axis=0)
