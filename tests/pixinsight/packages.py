"""Export packages for the PixInsight companion's tests, built from simulated frames.

Until ``september export`` exists, this lays out a package the way docs/manifest.md describes
(lights/<filter>/, calibration/<kind>/) from a simulator run, links the frames in, and writes a
manifest validated by ``september.package.manifest``. The calibration of each light is the
simulator's ground truth, so a test can check that the script calibrates with exactly those
frames. ``python -m tests.pixinsight.packages OUT`` writes packages under OUT and prints a JSON
list of them (the Node tests call it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from september.package.manifest import SCHEMA_VERSION, write_manifest

KIND_FOLDERS = {
    "bias": "calibration/bias",
    "dark": "calibration/darks",
    "flat": "calibration/flats",
    "dark-flat": "calibration/dark-flats",
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _package_path(frame: Any, used: set[str]) -> str:
    name = Path(frame.path).name
    if frame.frame_type == "light":
        folder = f"lights/{frame.filter}"
    elif frame.frame_type == "flat":
        folder = f"{KIND_FOLDERS['flat']}/{frame.filter}"
    else:
        folder = KIND_FOLDERS[frame.frame_type]
    candidate = f"{folder}/{name}"
    number = 2
    while candidate in used:
        candidate = f"{folder}/{number}_{name}"
        number += 1
    used.add(candidate)
    return candidate


def _weight(frame: Any, best_fwhm: float) -> float:
    fwhm = frame.seeing_fwhm_px or best_fwhm
    return round(max(0.0, min(1.0, frame.transparency * best_fwhm / fwhm)), 4)


def package_from_truth(share: Path, frames: list[Any], out_dir: Path, name: str) -> Path:
    """Lay out a package for the usable lights in ``frames`` (FrameTruth) and their calibration."""
    lights = [f for f in frames if f.frame_type == "light" and not f.off_target and f.calibration]
    if not lights:
        raise ValueError("the simulation produced no usable lights")
    by_path = {f.path: f for f in frames}
    needed = {p for light in lights for paths in light.calibration.values() for p in paths}
    calibration = [by_path[p] for p in sorted(needed)]
    used: set[str] = set()
    package_of = {f.path: _package_path(f, used) for f in [*lights, *calibration]}
    best_fwhm = min(f.seeing_fwhm_px or 99.0 for f in lights)

    entries = []
    for frame in [*lights, *calibration]:
        source = share / frame.path
        target = out_dir / package_of[frame.path]
        _link(source, target)
        entry: dict[str, Any] = {
            "path": package_of[frame.path],
            "original_path": str(source),
            "sha256": _sha256(target),
            "frame_type": frame.frame_type,
            "filter": frame.filter,
            "exposure": frame.exposure,
            "gain": frame.gain,
            "offset": frame.offset,
            "ccd_temp": frame.ccd_temp,
            "binning": frame.binning,
            "width": frame.width,
            "height": frame.height,
            "date_obs": frame.date_obs,
            "object": frame.object_header,
        }
        if frame.frame_type == "light":
            cal: dict[str, Any] = {
                kind: [package_of[p] for p in frame.calibration.get(kind, [])]
                for kind in KIND_FOLDERS
                if frame.calibration.get(kind)
            }
            dark_exposures = {by_path[p].exposure for p in frame.calibration.get("dark", [])}
            cal["dark_scaled"] = bool(dark_exposures) and dark_exposures != {frame.exposure}
            cal["reasons"] = {k: "simulator ground truth" for k in KIND_FOLDERS if k in cal}
            entry.update(
                grade="accepted",
                weight=_weight(frame, best_fwhm),
                quality={
                    "fwhm": frame.seeing_fwhm_px,
                    "fwhm_arcsec": frame.seeing_fwhm_arcsec,
                    "transparency": frame.transparency,
                },
                wcs={
                    "ra": frame.ra,
                    "dec": frame.dec,
                    "rotation": frame.rotation,
                    "pixel_scale": frame.pixel_scale,
                    "parity": "normal",
                },
                calibration=cal,
            )
        entries.append(entry)

    integration: dict[str, float] = {}
    for light in lights:
        integration[light.filter] = integration.get(light.filter, 0.0) + light.exposure
    manifest = {
        "schema": "september.package",
        "schema_version": SCHEMA_VERSION,
        "created": "2026-11-21T06:00:00Z",
        "september_version": "0.1.0",
        "selection": {"target": lights[0].object_true},
        "cluster": {
            "name": name,
            "target": lights[0].object_true,
            "panel": lights[0].panel,
            "ra": sum(f.ra for f in lights) / len(lights),
            "dec": sum(f.dec for f in lights) / len(lights),
            "frame_count": len(lights),
            "integration_by_filter": integration,
        },
        "frames": entries,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(out_dir, manifest)
    return out_dir


def simulated_packages(root: Path) -> list[dict[str, Any]]:
    """Simulate two small scenarios and lay each out as a package under ``root``."""
    from september.sim import simulate

    made = []
    plans = [
        # LRGB, one night: every filter integrated, LRGB combination
        ("crab", {"nights": 1, "frames": 20, "filters": ("L", "R", "G", "B")}),
        # several nights and calibration sets, with decoys that must not be used
        ("calibration-library", {"frames": 6}),
    ]
    for scenario, options in plans:
        share = root / "share" / scenario
        result = simulate(scenario, share, scale="small", seed=3, calibration_frames=3, **options)
        package = package_from_truth(share, result.frames, root / scenario, f"{scenario}-P1")
        made.append({"path": str(package), "source": "simulated", "scenario": scenario})
    return made


def build_packages(root: Path) -> list[dict[str, Any]]:
    """The test packages (see :func:`simulated_packages`)."""
    return simulated_packages(root)


def main(argv: list[str]) -> int:
    root = Path(argv[1]).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(json.dumps(build_packages(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
