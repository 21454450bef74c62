"""Matching every light with the bias, darks, flats and flat-darks it needs, saying why.

The rules are those practitioners use (PixInsight WBPP's keys plus the ones users add):

- bias: camera, binning, image size, gain and offset;
- darks: the bias keys plus sensor temperature within a tolerance, and the same exposure
  ("exact"), or another exposure scaled with the bias ("scaled") when allowed;
- flats: camera, binning, size and filter, from the nearest night within a window;
- flat-darks: the flats' camera, binning, size, gain and offset, exposure within a tolerance
  (frames typed as flat-darks first, else darks of that exposure, as Ekos writes them).

A candidate set is always a whole group (one night, one setting), never a mix. A light with no
usable dark or flat, or no bias when one is needed, is reported with the reason and is not
exported: nothing leaves september uncalibrated without the user knowing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from september.config import CalibrationConfig

__all__ = [
    "CalibrationFrame",
    "LightCalibration",
    "Match",
    "match_calibration",
    "observing_night",
]


@dataclass(frozen=True)
class CalibrationFrame:
    """The header facts matching needs, for a light or a calibration frame."""

    id: int
    path: str
    frame_type: str
    camera: str | None
    xbinning: int | None
    ybinning: int | None
    width: int
    height: int
    gain: float | None
    offset: float | None
    ccd_temp: float | None
    exposure: float | None
    filter: str | None
    date_obs: datetime | None


@dataclass(frozen=True)
class Match:
    kind: str  # bias | dark | flat | dark-flat
    frames: tuple[CalibrationFrame, ...]
    reason: str
    scaled: bool = False  # a dark of another exposure, to be scaled with the bias


@dataclass
class LightCalibration:
    light: CalibrationFrame
    matches: dict[str, Match] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


def observing_night(moment: datetime | None, longitude: float) -> date | None:
    """The date of the evening a night began on, at the site's local solar time."""
    if moment is None:
        return None
    return (moment + timedelta(hours=longitude / 15.0 - 12.0)).date()


def _same(a: object, b: object) -> bool:
    """Equal when both are known; an unknown value does not veto (it is named in the reason)."""
    return a is None or b is None or a == b


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    return a is None or b is None or abs(a - b) <= tolerance


def _sensor_compatible(light: CalibrationFrame, frame: CalibrationFrame) -> bool:
    return (
        _same(light.camera, frame.camera)
        and _same(light.xbinning, frame.xbinning)
        and _same(light.ybinning, frame.ybinning)
        and (light.width, light.height) == (frame.width, frame.height)
    )


def _electronics_compatible(light: CalibrationFrame, frame: CalibrationFrame) -> bool:
    return _same(light.gain, frame.gain) and _same(light.offset, frame.offset)


def _group_key(frame: CalibrationFrame, longitude: float) -> tuple[object, ...]:
    """Frames of one set: same night, electronics, exposure and type. Temperature is not part
    of the key: candidates were already filtered by tolerance, and rounding would split a set."""
    exposure = None if frame.exposure is None else round(frame.exposure, 1)
    return (
        observing_night(frame.date_obs, longitude),
        frame.frame_type,
        frame.camera,
        frame.gain,
        frame.offset,
        exposure,
        (frame.filter or "").lower(),
    )


def _best_group(
    candidates: Iterable[CalibrationFrame],
    longitude: float,
    score: Callable[[CalibrationFrame], tuple[float, ...]],
) -> tuple[CalibrationFrame, ...]:
    """All frames of the group (night + settings) whose first frame scores lowest."""
    groups: dict[tuple[object, ...], list[CalibrationFrame]] = {}
    for frame in candidates:
        groups.setdefault(_group_key(frame, longitude), []).append(frame)
    if not groups:
        return ()
    best = min(groups.values(), key=lambda frames: (score(frames[0]), -len(frames)))
    return tuple(sorted(best, key=lambda f: f.path))


def _night_distance(a: CalibrationFrame, b: CalibrationFrame, longitude: float) -> float:
    night_a = observing_night(a.date_obs, longitude)
    night_b = observing_night(b.date_obs, longitude)
    if night_a is None or night_b is None:
        return 1e6
    return abs((night_a - night_b).days)


def _unknowns(light: CalibrationFrame, frame: CalibrationFrame, keys: Sequence[str]) -> str:
    missing = [k for k in keys if getattr(light, k) is None or getattr(frame, k) is None]
    return f" ({', '.join(missing)} not in the headers)" if missing else ""


def _describe(frames: Sequence[CalibrationFrame], longitude: float) -> str:
    first = frames[0]
    night = observing_night(first.date_obs, longitude)
    parts = [f"{len(frames)} frame{'s' if len(frames) != 1 else ''}"]
    if first.exposure is not None:
        parts.append(f"{first.exposure:g} s")
    if first.ccd_temp is not None:
        parts.append(f"{first.ccd_temp:+.1f} C")
    if first.gain is not None:
        parts.append(f"gain {first.gain:g}")
    if night:
        parts.append(f"night of {night.isoformat()}")
    return ", ".join(parts)


def match_calibration(
    light: CalibrationFrame,
    library: Sequence[CalibrationFrame],
    rules: CalibrationConfig,
    longitude: float = 0.0,
) -> LightCalibration:
    """The calibration for one light, with a reason per match and a list of problems."""
    result = LightCalibration(light)
    by_type: dict[str, list[CalibrationFrame]] = {}
    for frame in library:
        by_type.setdefault(frame.frame_type, []).append(frame)

    def nearest_night(frame: CalibrationFrame) -> tuple[float, ...]:
        return (_night_distance(light, frame, longitude),)

    biases = [
        f
        for f in by_type.get("bias", [])
        if _sensor_compatible(light, f) and _electronics_compatible(light, f)
    ]
    bias = _best_group(biases, longitude, nearest_night)
    if bias:
        result.matches["bias"] = Match(
            "bias",
            bias,
            "same camera, binning, size, gain and offset; nearest night: "
            + _describe(bias, longitude)
            + _unknowns(light, bias[0], ["gain", "offset"]),
        )

    darks = [
        f
        for f in by_type.get("dark", [])
        if _sensor_compatible(light, f)
        and _electronics_compatible(light, f)
        and _close(light.ccd_temp, f.ccd_temp, rules.temperature_tolerance)
    ]
    exact = [f for f in darks if _close(light.exposure, f.exposure, rules.exposure_tolerance)]

    def dark_score(frame: CalibrationFrame) -> tuple[float, ...]:
        temperature = abs((light.ccd_temp or 0.0) - (frame.ccd_temp or 0.0))
        exposure = abs((light.exposure or 0.0) - (frame.exposure or 0.0))
        return (exposure, temperature, _night_distance(light, frame, longitude))

    dark = _best_group(exact, longitude, dark_score)
    if dark:
        result.matches["dark"] = Match(
            "dark",
            dark,
            f"same exposure and sensor settings, temperature within "
            f"{rules.temperature_tolerance:g} C: "
            + _describe(dark, longitude)
            + _unknowns(light, dark[0], ["ccd_temp", "gain"]),
        )
    elif darks and rules.allow_scaled_darks and bias:
        dark = _best_group(darks, longitude, dark_score)
        result.matches["dark"] = Match(
            "dark",
            dark,
            f"no dark of {light.exposure:g} s; scaled from "
            + _describe(dark, longitude)
            + " with the bias",
            scaled=True,
        )
    else:
        why = "no dark with the same camera, binning, size, gain, offset and a temperature "
        why += f"within {rules.temperature_tolerance:g} C"
        if darks and not bias:
            why = "darks of another exposure exist but no bias to scale them with"
        result.problems.append(why)

    flats = [
        f
        for f in by_type.get("flat", [])
        if _sensor_compatible(light, f)
        and (f.filter or "").lower() == (light.filter or "").lower()
        and _night_distance(light, f, longitude) <= rules.flat_window_days
    ]
    flat = _best_group(flats, longitude, nearest_night)
    if flat:
        result.matches["flat"] = Match(
            "flat",
            flat,
            f"filter {light.filter}, same camera, binning and size, nearest night within "
            f"{rules.flat_window_days:g} days: " + _describe(flat, longitude),
        )
        # Ekos and others write flat-darks as plain darks: a dark at the flats' exposure counts.
        flat_darks = [
            f
            for f in by_type.get("dark-flat", []) + by_type.get("dark", [])
            if _sensor_compatible(flat[0], f)
            and _electronics_compatible(flat[0], f)
            and f.exposure is not None
            and flat[0].exposure is not None
            and abs(flat[0].exposure - f.exposure) <= rules.flat_dark_exposure_tolerance
        ]
        flat_dark = _best_group(
            flat_darks,
            longitude,
            lambda f: (f.frame_type != "dark-flat", _night_distance(flat[0], f, longitude)),
        )
        if flat_dark:
            result.matches["dark-flat"] = Match(
                "dark-flat",
                flat_dark,
                "the flats' exposure, camera and settings: " + _describe(flat_dark, longitude),
            )
    else:
        result.problems.append(
            f"no flat for filter {light.filter!r} with the same camera, binning and size within "
            f"{rules.flat_window_days:g} days"
        )

    if not bias and (rules.require_bias or result.matches.get("dark", Match("", (), "")).scaled):
        result.problems.append("no bias with the same camera, binning, size, gain and offset")
    return result
