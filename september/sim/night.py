"""The course of a night at the site: clock, sidereal time, airmass and extinction, seeing drift,
pointing with dithers, guiding, meridian flips and field rotation between nights."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from september.sim.rig import Rig


def gmst_deg(when: datetime) -> float:
    """Greenwich mean sidereal time in degrees (IAU 1982, good to ~0.1 s)."""
    jd = when.timestamp() / 86400.0 + 2440587.5
    t = (jd - 2451545.0) / 36525.0
    gmst = 280.46061837 + 360.98564736629 * (jd - 2451545.0) + 0.000387933 * t * t
    return gmst % 360.0


def hour_angle_deg(when: datetime, longitude: float, ra: float) -> float:
    """Hour angle of ``ra`` in degrees, wrapped to [-180, 180)."""
    return (gmst_deg(when) + longitude - ra + 180.0) % 360.0 - 180.0


def transit_time(ra: float, longitude: float, evening: datetime) -> datetime:
    """UTC of the meridian transit of ``ra`` nearest to local midnight after ``evening``."""
    midnight = evening.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=1, hours=-longitude / 15.0
    )
    ha = hour_angle_deg(midnight, longitude, ra)
    return midnight - timedelta(hours=ha / 15.041)


def altitude_deg(hour_angle: float, dec: float, latitude: float) -> float:
    """Altitude above the horizon (deg)."""
    h, d, p = map(math.radians, (hour_angle, dec, latitude))
    return math.degrees(
        math.asin(math.sin(d) * math.sin(p) + math.cos(d) * math.cos(p) * math.cos(h))
    )


def airmass(altitude: float) -> float:
    """Kasten & Young (1989) airmass; large but finite near the horizon."""
    alt = max(altitude, 1.0)
    return 1.0 / (math.sin(math.radians(alt)) + 0.50572 * (alt + 6.07995) ** -1.6364)


@dataclass(frozen=True)
class NightPlan:
    """One night of a scenario."""

    index: int
    date: str  # YYYY-MM-DD of the evening
    start: datetime  # UTC of the first light frame
    rotation: float  # camera angle this night (deg E of N), before any meridian flip
    seeing_base: float  # arcsec at zenith
    seeing_phases: tuple[float, float, float]


def plan_night(
    rig: Rig, date: str, index: int, rng: np.random.Generator, camera_angle: float | None = None
) -> NightPlan:
    """Start time (evening, ~20:00 local mean time), camera rotation (re-mounted each night:
    a few degrees of change; or set to ``camera_angle`` within 0.5 deg, as a mosaic planner
    does) and the seeing character of the night."""
    evening = datetime.fromisoformat(date).replace(tzinfo=UTC)
    start = evening + timedelta(hours=20.0 - rig.site.longitude / 15.0)
    rotation = float((rng.normal(0, 4.0) + 15.0 * index) % 360.0)
    if camera_angle is not None:
        rotation = float((camera_angle + rng.normal(0, 0.5)) % 360.0)
    return NightPlan(
        index=index,
        date=date,
        start=start,
        rotation=rotation,
        seeing_base=float(rng.uniform(1.8, 3.0)),
        seeing_phases=tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 3)),  # type: ignore[arg-type]
    )


def seeing_arcsec(night: NightPlan, hours: float, air: float) -> float:
    """Seeing FWHM (arcsec): the night's base value drifting smoothly, times airmass^0.6."""
    p = night.seeing_phases
    drift = 0.25 * math.sin(hours / 2.3 + p[0]) + 0.15 * math.sin(hours / 0.9 + p[1])
    drift += 0.08 * math.sin(hours / 0.31 + p[2])
    return max(night.seeing_base * (1.0 + drift), 1.0) * air**0.6


def pier_side(hour_angle: float) -> str:
    """German equatorial mount: telescope on the West of the pier looking East before the
    meridian, East of the pier after the flip."""
    return "west" if hour_angle < 0 else "east"


def offset_position(
    ra: float, dec: float, east_arcsec: float, north_arcsec: float
) -> tuple[float, float]:
    """Move a position by small tangent-plane offsets (arcsec)."""
    xi, eta = math.radians(east_arcsec / 3600.0), math.radians(north_arcsec / 3600.0)
    a0, d0 = math.radians(ra), math.radians(dec)
    denom = math.cos(d0) - eta * math.sin(d0)
    a = a0 + math.atan2(xi, denom)
    d = math.atan2(math.sin(d0) + eta * math.cos(d0), math.hypot(xi, denom))
    return math.degrees(a) % 360.0, math.degrees(d)


def dither_offsets(rig: Rig, n_frames: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(east, north) arcsec offset of each frame: a new random dither every few frames."""
    scale_full = rig.pixel_scale / rig.binning / (rig.camera.pixel_um / 3.8)
    amplitude = rig.mount.dither_px * scale_full
    offsets, current = [], (0.0, 0.0)
    for i in range(n_frames):
        if i and i % rig.mount.dither_every == 0:
            current = tuple(float(v) for v in rng.uniform(-amplitude, amplitude, 2))  # type: ignore[assignment]
        offsets.append(current)
    return offsets
