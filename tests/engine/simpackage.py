"""Turn a simulator folder into an export package (manifest only) for the engine tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from astropy.wcs import WCS

from september.package.manifest import write_manifest
from september.sim import read_truth


def _wcs_header(frame) -> str:
    """A TAN header from the simulator's true pointing (as a plate solution would give)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [frame.ra, frame.dec]
    wcs.wcs.crpix = [frame.width / 2 + 0.5, frame.height / 2 + 0.5]
    scale = frame.pixel_scale / 3600.0
    angle = np.deg2rad(frame.rotation)
    wcs.wcs.cd = scale * np.array([[-np.cos(angle), np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return wcs.to_header().tostring(sep="\n")


def package_from_sim(
    sim_dir: Path,
    *,
    with_wcs: bool = True,
    kinds: tuple[str, ...] = ("bias", "dark", "flat", "dark-flat"),
) -> Path:
    """Write ``september.json`` into ``sim_dir`` listing its clear lights and their calibration
    (of the given ``kinds``)."""
    truth = read_truth(sim_dir)
    frames, used = [], set()
    lights = [
        f
        for f in truth.frames
        if f.frame_type == "light" and not (f.cloudy or f.trailed or f.off_target)
    ]
    for f in lights:
        for kind, paths in f.calibration.items():
            if kind in kinds:
                used.update(paths)
    for f in truth.frames:
        if f.frame_type != "light" and f.path not in used:
            continue
        if f.frame_type == "light" and f not in lights:
            continue
        entry = {
            "path": f.path,
            "original_path": f.path,
            "sha256": hashlib.sha256((sim_dir / f.path).read_bytes()).hexdigest(),
            "frame_type": f.frame_type,
            "filter": f.filter,
            "exposure": f.exposure,
            "gain": f.gain,
            "offset": f.offset,
            "ccd_temp": f.ccd_temp,
            "binning": f.binning,
            "width": f.width,
            "height": f.height,
            "date_obs": f.date_obs,
            "object": f.object_header,
        }
        if f.frame_type == "light":
            entry["quality"] = {"fwhm": f.seeing_fwhm_px, "transparency": f.transparency}
            entry["calibration"] = {
                k: list(v) for k, v in f.calibration.items() if v and k in kinds
            }
            if with_wcs:
                entry["wcs"] = {"ra": f.ra, "dec": f.dec, "header": _wcs_header(f)}
        frames.append(entry)
    first = lights[0]
    data = {
        "schema": "september.package",
        "schema_version": "1.0",
        "created": "2026-11-21T00:00:00Z",
        "september_version": "test",
        "selection": {},
        "cluster": {"name": "test", "ra": first.ra, "dec": first.dec},
        "frames": frames,
    }
    write_manifest(sim_dir, data)
    return sim_dir
