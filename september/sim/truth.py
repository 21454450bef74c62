"""Ground truth written beside simulated frames (one JSON file per scenario night) and read back
by tests and benchmarks, so every claim about a frame can be checked."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRUTH_DIR = "truth"
TRUTH_SUFFIX = ".truth.json"
CALIBRATION_KINDS = ("bias", "dark", "flat", "dark-flat")


@dataclass
class FrameTruth:
    """What is really in one simulated frame (lights and calibration frames)."""

    path: str  # relative to the output folder
    frame_type: str  # 'light' | 'bias' | 'dark' | 'flat' | 'dark-flat'
    night: str  # YYYY-MM-DD of the evening
    filter: str | None
    exposure: float
    gain: int
    offset: int
    binning: int
    ccd_temp: float
    date_obs: str  # ISO UTC
    width: int
    height: int
    egain: float = 0.0  # e-/ADU at this gain
    read_noise_e: float = 0.0
    dark_current_e: float = 0.0  # mean e-/s/px at ccd_temp
    ra: float | None = None  # true centre (deg)
    dec: float | None = None
    rotation: float | None = None  # deg, East of North (position angle of image +y)
    pixel_scale: float | None = None  # arcsec/px
    header_ra: float | None = None  # where the mount says it points
    header_dec: float | None = None
    seeing_fwhm_px: float | None = None  # star FWHM as rendered (what a measurement finds)
    seeing_fwhm_arcsec: float | None = None  # the same in arcsec (seeing_fwhm_px * pixel_scale)
    psf_fwhm_sky_arcsec: float | None = None  # seeing + optics + guiding on the sky; at small
    # scale stars are drawn wider than this (see rig.make_rig)
    airmass: float | None = None
    transparency: float = 1.0
    sky_level_e: float | None = None  # mean sky electrons per pixel
    cloudy: bool = False
    trailed: bool = False
    trail_px: list[float] | None = None  # star motion during the exposure (dx, dy)
    off_target: bool = False
    satellite: bool = False
    cosmic_rays: list[list[float]] = field(default_factory=list)  # [x, y] (0-based px)
    trail_segments: list[list[float]] = field(default_factory=list)  # [x0, y0, x1, y1]
    panel: str | None = None
    object_header: str | None = None
    object_true: str | None = None
    pier_side: str | None = None
    calibration: dict[str, list[str]] = field(default_factory=dict)
    decoy: bool = False
    decoy_reason: str | None = None
    software: str = "ekos"
    scenario: str = ""
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Truth:
    """All frames of every truth file under an output folder."""

    frames: list[FrameTruth]

    @property
    def lights(self) -> list[FrameTruth]:
        return [f for f in self.frames if f.frame_type == "light"]

    def by_path(self) -> dict[str, FrameTruth]:
        return {f.path: f for f in self.frames}

    def of_type(self, frame_type: str) -> list[FrameTruth]:
        return [f for f in self.frames if f.frame_type == frame_type]


def write_truth(
    out_dir: Path, scenario: str, night: str, frames: list[FrameTruth], extra: dict[str, Any]
) -> Path:
    """Write one night's truth file; returns its path."""
    folder = Path(out_dir) / TRUTH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scenario}_{night}{TRUTH_SUFFIX}"
    payload = {
        "scenario": scenario,
        "night": night,
        **extra,
        "frames": [f.to_dict() for f in frames],
    }
    path.write_text(json.dumps(payload, indent=1, sort_keys=False))
    return path


def read_truth(out_dir: str | Path) -> Truth:
    """Every frame of every truth file under ``out_dir`` (sorted by path)."""
    known = {f.name for f in dataclasses.fields(FrameTruth)}
    frames = []
    for path in sorted(Path(out_dir).rglob(f"*{TRUTH_SUFFIX}")):
        for item in json.loads(path.read_text())["frames"]:
            frames.append(FrameTruth(**{k: v for k, v in item.items() if k in known}))
    frames.sort(key=lambda f: f.path)
    return Truth(frames=frames)
