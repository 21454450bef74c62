"""Per-pixel rejection and weighted averaging of a stack, compiled with numba.

Each pixel's finite values are sorted once (insertion sort: stacks are small); a rejection
algorithm then only moves the bounds [a, b) of the kept range, and the kept values are averaged
with their frames' weights. Pixels are processed in parallel blocks. Algorithms:

- ``percentile``: reject values below median * (1 - p_low) or above median * (1 + p_high);
- ``sigma``: iterated clipping at median -/+ k sigma (standard deviation of the kept values);
- ``winsorized``: as sigma, with sigma from the winsorized sample (clamped at median +- 1.5 sigma,
  sigma = 1.134 * sd, iterated to < 0.05% change);
- ``linear-fit``: fit a line to the sorted kept values against their rank, sigma = mean |residual|,
  reject the ends lying more than k sigma off the line.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["METHODS", "combine_stack"]

METHODS = {"none": 0, "percentile": 1, "sigma": 2, "winsorized": 3, "linear-fit": 4}
MAX_ITERATIONS = 10
WINSOR_CLAMP = 1.5
WINSOR_CORRECTION = 1.134
WINSOR_TOLERANCE = 5e-4
MIN_KEPT = 2
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
def _clip(v: np.ndarray, n: int, method: int, low: float, high: float) -> tuple[int, int]:
    a, b = 0, n
    for _ in range(MAX_ITERATIONS):
        if b - a <= MIN_KEPT:
            break
        centre = _median(v, a, b)
        if method == 2:
            _, sigma = _mean_sd(v, a, b)
        else:
            sigma = _winsorized_sigma(v, a, b, centre)
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
def _linear_fit(v: np.ndarray, n: int, low: float, high: float) -> tuple[int, int]:
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
        sigma /= m
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
    weights: np.ndarray,
    method: int,
    low: float,
    high: float,
    p_low: float,
    p_high: float,
    combined: np.ndarray,
    low_count: np.ndarray,
    high_count: np.ndarray,
    frame_rejected: np.ndarray,
    frame_valid: np.ndarray,
) -> None:
    frames, pixels = values.shape
    blocks = (pixels + BLOCK - 1) // BLOCK
    for block in numba.prange(blocks):
        v = np.empty(frames, np.float64)
        ids = np.empty(frames, np.int64)
        first = block * BLOCK
        last = min(pixels, first + BLOCK)
        local = np.empty((last - first, frames), np.float32)  # contiguous reads, frame by frame
        for i in range(frames):
            for p in range(first, last):
                local[p - first, i] = values[i, p]
        for p in range(first, last):
            n = 0
            for i in range(frames):
                x = local[p - first, i]
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
                    a, b = _clip(v, n, method, low, high)
                elif method == 4:
                    a, b = _linear_fit(v, n, low, high)
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


def combine_stack(
    values: np.ndarray,
    weights: np.ndarray,
    method: str,
    *,
    low: float = 3.0,
    high: float = 3.0,
    p_low: float = 0.2,
    p_high: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Reject and average ``values`` (frames x pixels, NaN = no data) with per-frame ``weights``.

    Returns the combined pixels (float32), the per-pixel counts of values rejected low and high
    (uint16), and per frame the number of its values rejected and of its valid values.
    """
    if method not in METHODS:
        raise ValueError(f"unknown rejection {method!r}; use one of {', '.join(METHODS)}")
    values = np.ascontiguousarray(values, np.float32)
    frames, pixels = values.shape
    blocks = (pixels + BLOCK - 1) // BLOCK
    combined = np.empty(pixels, np.float32)
    low_count = np.empty(pixels, np.uint16)
    high_count = np.empty(pixels, np.uint16)
    frame_rejected = np.zeros((blocks, frames), np.int64)
    frame_valid = np.zeros((blocks, frames), np.int64)
    _combine(
        values,
        np.asarray(weights, np.float64),
        METHODS[method],
        float(low),
        float(high),
        float(p_low),
        float(p_high),
        combined,
        low_count,
        high_count,
        frame_rejected,
        frame_valid,
    )
    return combined, low_count, high_count, frame_rejected.sum(axis=0), frame_valid.sum(axis=0)
