"""The targets file: what the observatory should image, where the mosaic panels lie, and how
much accepted integration each filter needs, validated with errors that name target and key.

A targets file is TOML with one ``[[target]]`` table per target (see docs/planning.md)::

    [camera]                      # optional: default camera field of every mosaic, degrees
    field = [1.91, 1.45]

    [[target]]
    name = "M31"                  # resolved offline; or give ra/dec (degrees)
    priority = 1                  # 1 is most important
    mosaic = { rows = 2, cols = 3, overlap = 0.2, rotation = 0 }
    [target.desired_hours]
    L = 10
    Ha = 6

Mosaic panels are laid out on the sky the way a framing assistant does it: the grid is built in
the camera's frame (columns along the sensor width, rows along its height, neighbouring centres
``(1 - overlap)`` fields apart), turned by ``rotation`` (degrees East of North of the sensor's
up direction) and placed with exact spherical offsets from the mosaic centre (astropy's
``SkyOffsetFrame``). Row 1 is the northern edge at rotation 0, column 1 the eastern edge.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from september.errors import SeptemberError, TargetsError

__all__ = [
    "Mosaic",
    "Panel",
    "Target",
    "TargetsFile",
    "assign_panels",
    "canonical_filter",
    "load_targets",
    "panels_for",
    "parse_targets",
]

DEFAULT_MIN_ALTITUDE = 30.0  # degrees
DEFAULT_MOON_SEPARATION = 20.0  # degrees
DEFAULT_SUB_EXPOSURE = {"narrowband": 300.0, "broadband": 120.0}  # seconds

_FILTER_ALIASES = {
    "ha": "Ha",
    "h-alpha": "Ha",
    "halpha": "Ha",
    "h_alpha": "Ha",
    "h-a": "Ha",
    "oiii": "OIII",
    "o3": "OIII",
    "o-iii": "OIII",
    "sii": "SII",
    "s2": "SII",
    "s-ii": "SII",
    "l": "L",
    "lum": "L",
    "luminance": "L",
    "clear": "L",
    "r": "R",
    "red": "R",
    "g": "G",
    "green": "G",
    "b": "B",
    "blue": "B",
}
_NARROWBAND = {"Ha", "OIII", "SII"}

_TARGET_KEYS = {
    "name",
    "ra",
    "dec",
    "priority",
    "mosaic",
    "desired_hours",
    "sub_exposure",
    "min_altitude",
    "moon_separation",
    "group",
}
_MOSAIC_KEYS = {"rows", "cols", "overlap", "rotation", "field"}
_TOP_KEYS = {"target", "camera"}
_CAMERA_KEYS = {"field"}


def canonical_filter(name: str | None) -> str | None:
    """The one spelling september uses for a filter (``H-alpha`` -> ``Ha``, ``Lum`` -> ``L``)."""
    if name is None:
        return None
    text = str(name).strip()
    return _FILTER_ALIASES.get(text.lower(), text)


@dataclass(frozen=True)
class Mosaic:
    """A grid of camera fields; ``field`` is (width, height) in degrees or None (not yet known)."""

    rows: int = 1
    cols: int = 1
    overlap: float = 0.0  # fraction of a field shared by neighbouring panels
    rotation: float = 0.0  # degrees East of North of the sensor's up direction
    field: tuple[float, float] | None = None

    @property
    def step(self) -> tuple[float, float]:
        """Distance between neighbouring panel centres (across columns, across rows), degrees."""
        if self.field is None:
            raise TargetsError("the mosaic has no camera field; give mosaic.field or [camera]")
        return self.field[0] * (1.0 - self.overlap), self.field[1] * (1.0 - self.overlap)


@dataclass(frozen=True)
class Panel:
    """One pointing of a target: the whole target, or one cell of its mosaic."""

    target: str
    name: str  # "main" for a single field, "r1c2" (row 1, column 2) in a mosaic
    row: int
    col: int
    ra: float  # degrees, J2000
    dec: float

    @property
    def label(self) -> str:
        """``M31`` or ``M31 r1c2``."""
        return self.target if self.name == "main" else f"{self.target} {self.name}"


@dataclass(frozen=True)
class Target:
    """One ``[[target]]`` table, resolved and validated."""

    name: str
    ra: float  # degrees, J2000
    dec: float
    desired_hours: dict[str, float]  # canonical filter -> accepted hours wanted
    priority: int = 1
    mosaic: Mosaic | None = None
    sub_exposure: dict[str, float] = field(default_factory=dict)  # filter -> seconds
    min_altitude: float = DEFAULT_MIN_ALTITUDE
    moon_separation: float = DEFAULT_MOON_SEPARATION
    group: str = ""

    def exposure_for(self, filter_name: str) -> float:
        """Sub-exposure (s) for a filter: the file's value, or 300 s narrowband / 120 s else."""
        if filter_name in self.sub_exposure:
            return self.sub_exposure[filter_name]
        kind = "narrowband" if filter_name in _NARROWBAND else "broadband"
        return DEFAULT_SUB_EXPOSURE[kind]


@dataclass(frozen=True)
class TargetsFile:
    """All targets of one file, in file order."""

    targets: tuple[Target, ...]
    camera_field: tuple[float, float] | None = None
    source: Path | None = None


def _where(index: int, name: str | None, key: str) -> str:
    label = f"target {index + 1}" + (f" ({name!r})" if name else "")
    return f"{label}, key {key!r}"


def _number(value: Any, where: str, *, minimum: float | None = None, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TargetsError(f"{where}: expected a number, got {value!r}")
    if integer and not float(value).is_integer():
        raise TargetsError(f"{where}: expected a whole number, got {value!r}")
    if not math.isfinite(float(value)):
        raise TargetsError(f"{where}: {value!r} is not finite")
    if minimum is not None and value < minimum:
        raise TargetsError(f"{where}: {value!r} is below the minimum {minimum}")
    return int(value) if integer else float(value)


def _field(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise TargetsError(f"{where}: expected [width, height] in degrees, got {value!r}")
    width, height = (_number(v, where) for v in value)
    if not (0 < width <= 30 and 0 < height <= 30):
        raise TargetsError(f"{where}: field {value!r} must be between 0 and 30 degrees")
    return width, height


def _mosaic(raw: Any, where: Callable[[str], str]) -> Mosaic:
    if not isinstance(raw, Mapping):
        raise TargetsError(f"{where('mosaic')}: expected a table such as {{ rows = 2, cols = 3 }}")
    unknown = sorted(set(raw) - _MOSAIC_KEYS)
    if unknown:
        raise TargetsError(
            f"{where('mosaic.' + unknown[0])}: unknown key; "
            f"known: {', '.join(sorted(_MOSAIC_KEYS))}"
        )
    rows = _number(raw.get("rows", 1), where("mosaic.rows"), minimum=1, integer=True)
    cols = _number(raw.get("cols", 1), where("mosaic.cols"), minimum=1, integer=True)
    overlap = _number(raw.get("overlap", 0.0), where("mosaic.overlap"), minimum=0.0)
    if overlap >= 0.9:
        raise TargetsError(f"{where('mosaic.overlap')}: {overlap} must be a fraction below 0.9")
    rotation = _number(raw.get("rotation", 0.0), where("mosaic.rotation")) % 360.0
    fov = _field(raw["field"], where("mosaic.field")) if "field" in raw else None
    return Mosaic(rows=rows, cols=cols, overlap=overlap, rotation=rotation, field=fov)


def _per_filter(raw: Any, where: Callable[[str], str], key: str) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise TargetsError(f"{where(key)}: expected a table of filter = number")
    values: dict[str, float] = {}
    for filter_name, value in raw.items():
        canonical = canonical_filter(filter_name)
        assert canonical is not None
        values[canonical] = _number(value, where(f"{key}.{filter_name}"), minimum=0.0)
    return values


def _target(index: int, raw: Any, resolve: Callable[[str], tuple[float, float]] | None) -> Target:
    if not isinstance(raw, Mapping):
        raise TargetsError(f"target {index + 1}: expected a [[target]] table")
    name = raw.get("name")

    def where(key: str) -> str:
        return _where(index, name, key)

    unknown = sorted(set(raw) - _TARGET_KEYS)
    if unknown:
        raise TargetsError(
            f"{where(unknown[0])}: unknown key; known keys: {', '.join(sorted(_TARGET_KEYS))}"
        )
    if not isinstance(name, str) or not name.strip():
        raise TargetsError(f"{where('name')}: every target needs a name")
    name = name.strip()
    if ("ra" in raw) != ("dec" in raw):
        raise TargetsError(f"{where('ra' if 'ra' not in raw else 'dec')}: give both ra and dec")
    if "ra" in raw:
        ra = _number(raw["ra"], where("ra")) % 360.0
        dec = _number(raw["dec"], where("dec"))
        if not -90.0 <= dec <= 90.0:
            raise TargetsError(f"{where('dec')}: {dec} is outside -90..90 degrees")
    else:
        if resolve is None:
            raise TargetsError(f"{where('name')}: no ra/dec given and no name resolver available")
        try:
            ra, dec = resolve(name)
        except (SeptemberError, LookupError, ValueError) as err:
            raise TargetsError(
                f"{where('name')}: cannot resolve {name!r} offline ({err}); give ra and dec"
            ) from err
    if "desired_hours" not in raw:
        raise TargetsError(
            f"{where('desired_hours')}: missing; give e.g. [target.desired_hours] L = 10"
        )
    desired = _per_filter(raw["desired_hours"], where, "desired_hours")
    if not desired:
        raise TargetsError(f"{where('desired_hours')}: no filters listed")
    sub_exposure = _per_filter(raw.get("sub_exposure", {}), where, "sub_exposure")
    for filter_name, seconds in sub_exposure.items():
        if seconds <= 0:
            raise TargetsError(f"{where('sub_exposure.' + filter_name)}: must be above 0 s")
    mosaic = _mosaic(raw["mosaic"], where) if "mosaic" in raw else None
    min_altitude = _number(raw.get("min_altitude", DEFAULT_MIN_ALTITUDE), where("min_altitude"))
    if not -10.0 <= min_altitude < 90.0:
        raise TargetsError(f"{where('min_altitude')}: {min_altitude} must lie in -10..90 degrees")
    moon = _number(
        raw.get("moon_separation", DEFAULT_MOON_SEPARATION), where("moon_separation"), minimum=0.0
    )
    group = raw.get("group", "")
    if not isinstance(group, str):
        raise TargetsError(f"{where('group')}: expected text")
    return Target(
        name=name,
        ra=float(ra),
        dec=float(dec),
        desired_hours=desired,
        priority=_number(raw.get("priority", 1), where("priority"), minimum=0, integer=True),
        mosaic=mosaic,
        sub_exposure=sub_exposure,
        min_altitude=min_altitude,
        moon_separation=moon,
        group=group,
    )


def _default_resolver() -> Callable[[str], tuple[float, float]] | None:
    try:
        from september.sky.names import resolve_name
    except ImportError:
        return None
    return resolve_name


def parse_targets(
    data: Mapping[str, Any],
    resolve: Callable[[str], tuple[float, float]] | None = None,
    source: Path | None = None,
) -> TargetsFile:
    """Validate parsed TOML; ``resolve`` maps a name to (ra, dec) degrees (default: offline)."""
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise TargetsError(
            f"unknown top-level key {unknown[0]!r}; a targets file has [[target]] tables "
            "and an optional [camera] table"
        )
    camera = data.get("camera", {})
    if not isinstance(camera, Mapping) or set(camera) - _CAMERA_KEYS:
        raise TargetsError("[camera] takes one key: field = [width, height] in degrees")
    camera_field = _field(camera["field"], "[camera] field") if "field" in camera else None
    raw_targets = data.get("target", [])
    if not isinstance(raw_targets, list) or not raw_targets:
        raise TargetsError("no targets: add at least one [[target]] table")
    resolver = resolve if resolve is not None else _default_resolver()
    targets = tuple(_target(i, raw, resolver) for i, raw in enumerate(raw_targets))
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TargetsError(f"target name {duplicates[0]!r} appears more than once")
    if camera_field is not None:
        targets = tuple(
            replace(t, mosaic=replace(t.mosaic, field=camera_field))
            if t.mosaic is not None and t.mosaic.field is None
            else t
            for t in targets
        )
    return TargetsFile(targets=targets, camera_field=camera_field, source=source)


def load_targets(
    path: str | Path, resolve: Callable[[str], tuple[float, float]] | None = None
) -> TargetsFile:
    """Read and validate a targets file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise TargetsError(f"cannot read targets file {path}: {err.strerror}") from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise TargetsError(f"{path} is not valid TOML: {err}") from err
    try:
        return parse_targets(data, resolve=resolve, source=path)
    except TargetsError as err:
        raise TargetsError(f"{path}: {err}") from err


def _offset_frame(target: Target) -> Any:
    centre = SkyCoord(target.ra * u.deg, target.dec * u.deg, frame="icrs")
    rotation = target.mosaic.rotation if target.mosaic else 0.0
    return centre.skyoffset_frame(rotation=rotation * u.deg)


def _grid_offsets(mosaic: Mosaic) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) offsets in degrees of every panel in row-major order, in the camera frame."""
    step_x, step_y = mosaic.step
    rows, cols = np.meshgrid(np.arange(mosaic.rows), np.arange(mosaic.cols), indexing="ij")
    lon = ((mosaic.cols - 1) / 2.0 - cols) * step_x  # column 1 is east (+lon)
    lat = ((mosaic.rows - 1) / 2.0 - rows) * step_y  # row 1 is north (+lat)
    return lon.ravel(), lat.ravel()


def panels_for(target: Target) -> list[Panel]:
    """The pointings of a target: one ``main`` panel, or every mosaic cell, row-major."""
    mosaic = target.mosaic
    if mosaic is None or (mosaic.rows == 1 and mosaic.cols == 1):
        return [Panel(target.name, "main", 1, 1, target.ra, target.dec)]
    lon, lat = _grid_offsets(mosaic)
    offsets = SkyCoord(lon=lon * u.deg, lat=lat * u.deg, frame=_offset_frame(target))
    icrs = offsets.transform_to("icrs")
    panels = []
    for index, (ra, dec) in enumerate(zip(icrs.ra.deg, icrs.dec.deg, strict=True)):
        row, col = divmod(index, mosaic.cols)
        name = f"r{row + 1}c{col + 1}"
        panels.append(Panel(target.name, name, row + 1, col + 1, float(ra), float(dec)))
    return panels


def assign_panels(
    target: Target, ra: np.ndarray, dec: np.ndarray, field: tuple[float, float] | None = None
) -> np.ndarray:
    """Index into ``panels_for(target)`` of the panel each frame centre belongs to, or -1.

    A frame belongs to the nearest panel centre when it lies within half a field of it along
    both camera axes. ``field`` (degrees) is needed for a single-panel target without a mosaic
    field; without any field a single panel takes frames within 1 degree.
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=float))
    dec = np.atleast_1d(np.asarray(dec, dtype=float))
    if ra.size == 0:
        return np.zeros(0, dtype=int)
    mosaic = target.mosaic or Mosaic()
    fov = mosaic.field or field or (2.0, 2.0)
    frames = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").transform_to(_offset_frame(target))
    lon = frames.lon.wrap_at(180 * u.deg).deg
    lat = frames.lat.deg
    if mosaic.rows == 1 and mosaic.cols == 1:
        centres_lon, centres_lat = np.zeros(1), np.zeros(1)
    else:
        mosaic = replace(mosaic, field=fov)
        centres_lon, centres_lat = _grid_offsets(mosaic)
    d_lon = lon[:, None] - centres_lon[None, :]
    d_lat = lat[:, None] - centres_lat[None, :]
    nearest = np.argmin(d_lon**2 + d_lat**2, axis=1)
    rows = np.arange(ra.size)
    inside = (np.abs(d_lon[rows, nearest]) <= fov[0] / 2.0) & (
        np.abs(d_lat[rows, nearest]) <= fov[1] / 2.0
    )
    return np.where(inside, nearest, -1)
