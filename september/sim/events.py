"""Things that spoil frames: clouds, satellite and aircraft trails, cosmic rays, trailing,
off-target pointing and wrong OBJECT headers, each drawn reproducibly from a generator."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from september.sim.render import Segment

CLOUDY_BELOW = 0.8  # a frame with transparency under this counts as cloudy in the truth


@dataclass(frozen=True)
class CloudBank:
    start_h: float  # hours after the night's start
    duration_h: float
    depth: float  # fraction of light removed at the middle (thin ~0.3, thick ~0.95)


def cloud_banks(
    rng: np.random.Generator, session_hours: float, cloudiness: float
) -> list[CloudBank]:
    """Cloud banks crossing during an imaging session; ``cloudiness`` 0 (clear) .. 1 (mostly
    cloudy). Bank lengths scale with the session, so even a short session sees its weather."""
    if cloudiness <= 0:
        return []
    n = rng.poisson(1.0 + 5.0 * cloudiness) + (1 if cloudiness >= 0.5 else 0)
    span = max(session_hours, 0.25)
    banks = []
    for _ in range(n):
        thick = rng.uniform() < 0.3 + 0.5 * cloudiness
        banks.append(
            CloudBank(
                start_h=float(rng.uniform(-0.1 * span, span)),
                duration_h=float(span * rng.uniform(0.08, 0.2 + 0.25 * cloudiness)),
                depth=float(rng.uniform(0.8, 0.98) if thick else rng.uniform(0.25, 0.6)),
            )
        )
    return banks


def transparency(banks: list[CloudBank], hours: float) -> float:
    """Fraction of starlight that passes the clouds at a moment (1 = clear)."""
    t = 1.0
    for b in banks:
        u = (hours - b.start_h) / b.duration_h
        if 0.0 < u < 1.0:
            t *= 1.0 - b.depth * math.sin(math.pi * u) ** 0.5
    return t


def satellite(
    rng: np.random.Generator, shape: tuple[int, int], fwhm: float, brightness_e: float
) -> tuple[Segment, list[float]]:
    """A straight satellite (or, one in four, blinking aircraft) streak crossing the frame."""
    h, w = shape
    angle = rng.uniform(0, np.pi)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    reach = math.hypot(w, h)
    x0, y0 = cx - reach * math.cos(angle), cy - reach * math.sin(angle)
    x1, y1 = cx + reach * math.cos(angle), cy + reach * math.sin(angle)
    x0, y0, x1, y1 = _clip_to_frame(x0, y0, x1, y1, w, h)
    aircraft = rng.uniform() < 0.25
    seg = Segment(x0, y0, x1, y1, rate_e=brightness_e, width_px=max(fwhm, 1.2), dashed=aircraft)
    return seg, [x0, y0, x1, y1]


def _clip_to_frame(
    x0: float, y0: float, x1: float, y1: float, w: int, h: int
) -> tuple[float, float, float, float]:
    """Liang-Barsky clip of a segment to the frame rectangle [0, w-1] x [0, h-1]."""
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0), (dx, w - 1 - x0), (-dy, y0), (dy, h - 1 - y0)):
        if p == 0:
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
    return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy


def cosmic_rays(
    rng: np.random.Generator, shape: tuple[int, int], sensor_cm2: float, exposure: float
) -> list[tuple[float, float, float]]:
    """Cosmic-ray hits (x, y, electrons): ~1 per cm^2 per minute at sea level."""
    n = rng.poisson(sensor_cm2 * exposure / 60.0)
    h, w = shape
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, h, n)
    es = rng.uniform(800, 6000, n)
    return [(float(x), float(y), float(e)) for x, y, e in zip(xs, ys, es, strict=True)]


def trail_vector(rng: np.random.Generator, fwhm_px: float) -> tuple[float, float]:
    """Star motion (px) during a trailed exposure (guiding lost, wind gust): 2-6 FWHM long,
    so a frame flagged as trailed visibly is."""
    length = fwhm_px * rng.uniform(2.0, 6.0)
    angle = rng.uniform(0, 2 * np.pi)
    return float(length * math.cos(angle)), float(length * math.sin(angle))
