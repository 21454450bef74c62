"""september's configuration: one TOML file plus ``SEPTEMBER_*`` environment overrides.

Sections are small frozen dataclasses; an unknown section or key is an error that names it, so a
typo in the file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from september.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("~/.config/september/september.toml")


def default_data_dir() -> Path:
    """Where september keeps its private database and state.

    root gets a system location because the private PostgreSQL runs as the ``postgres`` user,
    which cannot enter /root.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/september")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "september"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""  # empty: september runs its own private PostgreSQL under data_dir


@dataclass(frozen=True)
class PathsConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    share: Path | None = None  # the capture share september reads (never writes)
    index_dir: Path | None = None  # astrometry.net index files; None: solve-field's own config


@dataclass(frozen=True)
class IngestConfig:
    workers: int = 2
    solve_cpulimit: float = 30.0  # seconds of CPU per frame for solve-field
    max_stars_for_solve: int = 300  # brightest detections handed to solve-field
    db_retry_seconds: float = 300.0  # how long to wait for a lost database before giving up


@dataclass(frozen=True)
class SiteConfig:
    name: str = "Observatory"
    latitude: float = 51.5  # degrees north
    longitude: float = -0.1  # degrees east
    elevation: float = 50.0  # metres


@dataclass(frozen=True)
class ClusterConfig:
    link_fraction: float = 0.2  # frames closer than this fraction of the field join one panel
    fov_tolerance: float = 0.1  # relative field-size difference beyond which rigs are not mixed


@dataclass(frozen=True)
class CalibrationConfig:
    temperature_tolerance: float = 2.0  # degC between a light and its darks
    exposure_tolerance: float = 0.5  # seconds between a light and an "exact" dark
    flat_dark_exposure_tolerance: float = 0.5  # seconds between a flat and its flat-darks
    flat_window_days: float = 3.0  # flats from the nearest night within this many days
    allow_scaled_darks: bool = True  # a dark of another exposure, scaled with the bias
    require_bias: bool = True  # lights without a matching bias are not exported


@dataclass(frozen=True)
class ExportConfig:
    link: str = "copy"  # copy | hardlink | symlink: links share the raw file, so copy is safest
    accepted_only: bool = True  # leave rejected frames out


@dataclass(frozen=True)
class GradeConfig:
    k: float = 4.0  # group rule: reject beyond k x robust spread (1.4826 x MAD) of the group
    min_group: int = 3  # group rules apply to groups of at least this many frames
    min_spread: float = 0.05  # floor of the group spread, as a fraction of the group median
    min_transparency: float = 0.7  # flux ratio to the best frames of the filter and rig, 0..1
    max_fwhm_arcsec: float = 0.0  # arcsec; 0 turns the absolute FWHM limit off
    max_eccentricity: float = 0.8  # median star eccentricity, 0 (round) .. 1
    max_trailing: float = 0.15  # mean star ellipticity vector, 0 (round) .. 1 (lines)
    max_off_target: float = 0.25  # distance from the target's centre, fraction of field radius
    match_radius_px: float = 2.0  # detections within this many pixels of a catalogue star match


@dataclass(frozen=True)
class PlanConfig:
    profile: str = "Default"  # Ekos equipment profile named in the scheduler list
    capture_dir: str = "~/Pictures"  # FITSDirectory on the capture machine, + a night folder
    frame_overhead: float = 10.0  # seconds per frame for download, dither and settling
    temperature: float = -10.0  # camera set point in the sequence queue, degC
    filter_labels: str = ""  # september filter -> Ekos wheel label, e.g. "Ha=H-alpha, L=Lum"
    targets: Path | None = None  # targets file whose progress the night summary reports


@dataclass(frozen=True)
class PixInsightConfig:
    executable: Path | None = None  # PixInsight.sh (or a wrapper); None: looked up on PATH
    script: Path | None = None  # September.js; None: pixinsight/ in september's source tree
    timeout: float = 21600.0  # seconds before a headless run is stopped


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    grade: GradeConfig = field(default_factory=GradeConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    pixinsight: PixInsightConfig = field(default_factory=PixInsightConfig)
    source: Path | None = None  # the file this was read from, if any


_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "SEPTEMBER_DATABASE_URL": ("database", "url"),
    "SEPTEMBER_DATA_DIR": ("paths", "data_dir"),
    "SEPTEMBER_SHARE": ("paths", "share"),
    "SEPTEMBER_INDEX_DIR": ("paths", "index_dir"),
    "SEPTEMBER_WORKERS": ("ingest", "workers"),
    "SEPTEMBER_PIXINSIGHT": ("pixinsight", "executable"),
}


def _coerce(section: str, key: str, value: Any, target_type: Any) -> Any:
    type_text = str(target_type)
    try:
        if "Path" in type_text:
            return None if value in (None, "") else Path(str(value)).expanduser()
        if type_text == "int":
            return int(value)
        if type_text == "float":
            return float(value)
        if type_text == "bool":
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if type_text == "str":
            return str(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"[{section}] {key} = {value!r} is not a valid {type_text}; fix the configuration."
        ) from err
    return value


def _build_section(name: str, cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(unknown)} in section [{name}]; "
            f"known keys are: {', '.join(sorted(known))}"
        )
    kwargs = {key: _coerce(name, key, value, known[key].type) for key, value in values.items()}
    return cls(**kwargs)


def config_from_mapping(data: dict[str, Any], source: Path | None = None) -> Config:
    """Build a validated Config from parsed TOML (a dict of sections)."""
    sections = {f.name: f for f in dataclasses.fields(Config) if f.name != "source"}
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ConfigError(
            f"unknown section(s) {', '.join(unknown)}; known sections are: "
            f"{', '.join(sorted(sections))}"
        )
    built = {}
    for name, fld in sections.items():
        values = data.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"[{name}] must be a table of keys, not {values!r}")
        built[name] = _build_section(name, fld.default_factory().__class__, values)
    return Config(**built, source=source)


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read the TOML file (if any) and apply the environment overrides."""
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    source: Path | None = None
    candidate = Path(path).expanduser() if path else DEFAULT_CONFIG_PATH.expanduser()
    if candidate.exists():
        try:
            data = tomllib.loads(candidate.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{candidate} is not valid TOML: {err}") from err
        source = candidate
    elif path:
        raise ConfigError(f"configuration file {candidate} does not exist")
    for variable, (section, key) in _ENV_OVERRIDES.items():
        if environ.get(variable):
            data.setdefault(section, {})[key] = environ[variable]
    return config_from_mapping(data, source)
