"""Calibration frames a real observatory keeps (bias, darks at several exposures, temperatures
and gains, flats per filter and night, flat-darks, decoys) and which of them fit which light."""

from __future__ import annotations

from dataclasses import dataclass

from september.sim.truth import FrameTruth

FLAT_EXPOSURE = {"L": 0.5, "R": 1.5, "G": 1.5, "B": 2.0, "Ha": 8.0, "OIII": 8.0, "SII": 8.0}
FLAT_LEVEL_ADU = 25000.0  # flats are exposed to ~40% of the ADC range
TEMP_TOLERANCE = 1.0  # degC: a dark within this of the light's sensor temperature fits


@dataclass(frozen=True)
class CalibrationRequest:
    """A set of identical calibration frames to shoot."""

    frame_type: str  # 'bias' | 'dark' | 'flat' | 'dark-flat'
    count: int
    exposure: float
    gain: int
    offset: int
    temperature: float
    filter: str | None = None
    night_index: int = 0  # which night's optical train (flats) / date
    decoy_reason: str | None = None  # why this set is meant not to fit anything


def _same_sensor(a: FrameTruth, b: FrameTruth) -> bool:
    return (a.width, a.height, a.binning, a.gain, a.offset) == (
        b.width,
        b.height,
        b.binning,
        b.gain,
        b.offset,
    )


def _temp_ok(a: FrameTruth, b: FrameTruth) -> bool:
    return abs(a.ccd_temp - b.ccd_temp) <= TEMP_TOLERANCE


def matches(light: FrameTruth, cal: FrameTruth, flat_exposure: float | None) -> bool:
    """Whether calibration frame ``cal`` is a right one for ``light``."""
    if not _same_sensor(light, cal):
        return False
    if cal.frame_type == "bias":
        return True
    if cal.frame_type == "dark":
        return abs(cal.exposure - light.exposure) < 0.5 and _temp_ok(light, cal)
    if cal.frame_type == "flat":
        return cal.filter == light.filter and cal.night == light.night
    if cal.frame_type == "dark-flat":
        return (
            flat_exposure is not None
            and abs(cal.exposure - flat_exposure) < 0.05
            and cal.night == light.night
            and _temp_ok(light, cal)
        )
    return False


def assign_calibration(frames: list[FrameTruth]) -> None:
    """Fill each light's ``calibration`` lists and mark calibration frames that fit no light
    as decoys (in place)."""
    cals = [f for f in frames if f.frame_type != "light"]
    used: set[str] = set()
    for light in (f for f in frames if f.frame_type == "light"):
        flats = [c for c in cals if c.frame_type == "flat" and matches(light, c, None)]
        flat_exposure = flats[0].exposure if flats else None
        chosen: dict[str, list[str]] = {"bias": [], "dark": [], "flat": [], "dark-flat": []}
        for cal in cals:
            if matches(light, cal, flat_exposure):
                chosen[cal.frame_type].append(cal.path)
        light.calibration = {k: sorted(v) for k, v in chosen.items()}
        for paths in chosen.values():
            used.update(paths)
    for cal in cals:
        cal.calibration = {}
        cal.decoy = cal.path not in used
        if cal.decoy and not cal.decoy_reason:
            cal.decoy_reason = "fits no light frame"
