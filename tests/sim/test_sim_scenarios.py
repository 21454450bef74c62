"""Scenarios: mosaic panels and meridian flips, calibration decoys, wrong headers, off-target
frames, N.I.N.A. layout, compressed output and the command line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from september.cli import cli
from september.errors import SimulationError
from september.sim import FrameTruth, SimulationResult, read_truth, simulate
from september.sim.render import make_wcs
from september.sky.gaia import angular_distance

CONTRACT_FIELDS = [
    "path",
    "frame_type",
    "night",
    "filter",
    "exposure",
    "gain",
    "offset",
    "binning",
    "ccd_temp",
    "date_obs",
    "ra",
    "dec",
    "rotation",
    "pixel_scale",
    "width",
    "height",
    "seeing_fwhm_px",
    "seeing_fwhm_arcsec",
    "transparency",
    "cloudy",
    "trailed",
    "off_target",
    "satellite",
    "cosmic_rays",
    "trail_segments",
    "panel",
    "object_header",
    "object_true",
    "pier_side",
    "calibration",
    "decoy",
]


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    out = tmp_path_factory.mktemp("mosaic")
    return simulate("mosaic", out, seed=3, nights=1, frames=18, calibration_frames=2)


def test_truth_has_the_contract_fields() -> None:
    names = {f.name for f in dataclasses.fields(FrameTruth)}
    assert set(CONTRACT_FIELDS) <= names


def _overlap(a: FrameTruth, b: FrameTruth) -> float:
    """Fraction of frame a's pixels that fall inside frame b (true WCS)."""
    wa = make_wcs(a.ra, a.dec, a.rotation, a.pixel_scale, (a.height, a.width))  # type: ignore[arg-type]
    wb = make_wcs(b.ra, b.dec, b.rotation, b.pixel_scale, (b.height, b.width))  # type: ignore[arg-type]
    yy, xx = np.mgrid[0 : a.height : 8, 0 : a.width : 8]
    ra, dec = wa.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
    x, y = wb.wcs_world2pix(ra, dec, 0)
    return float(np.mean((x >= 0) & (x < b.width) & (y >= 0) & (y < b.height)))


def test_mosaic_panels_overlap_and_flip(mosaic: SimulationResult) -> None:
    lights = read_truth(mosaic.out_dir).lights
    panels = sorted({f.panel for f in lights if f.panel})
    assert panels == ["P1-1", "P1-2", "P2-1", "P2-2", "P3-1", "P3-2"]
    first = {p: next(f for f in lights if f.panel == p) for p in panels}
    side_by_side = _overlap(first["P1-1"], first["P1-2"])
    above = _overlap(first["P1-1"], first["P2-1"])
    print(f"panel overlap: {side_by_side:.1%} across, {above:.1%} along")
    assert 0.05 < side_by_side < 0.3 and 0.05 < above < 0.3
    assert _overlap(first["P1-1"], first["P3-2"]) == 0.0
    west = [f.rotation for f in lights if f.pier_side == "west"]
    east = [f.rotation for f in lights if f.pier_side == "east"]
    assert west and east  # the session straddles the meridian
    assert abs((east[0] - west[0]) % 360 - 180) < 1e-6
    light = lights[0]
    assert "/LIGHT/" in light.path and light.software == "nina"
    header = fits.getheader(mosaic.out_dir / light.path)
    assert header["IMAGETYP"] == "LIGHT" and header["SWCREATE"].startswith("N.I.N.A.")
    assert header["PIERSIDE"] == light.pier_side.upper()  # type: ignore[union-attr]


def test_calibration_library_decoys(tmp_path: Path) -> None:
    result = simulate("calibration-library", tmp_path, seed=4, frames=6, calibration_frames=3)
    truth = read_truth(tmp_path)
    decoys = [f for f in truth.frames if f.decoy]
    reasons = {f.decoy_reason for f in decoys}
    assert len(reasons) >= 5 and all(f.frame_type != "light" for f in decoys)
    used = {p for light in truth.lights for paths in light.calibration.values() for p in paths}
    assert used.isdisjoint(f.path for f in decoys)
    assert {f.path for f in truth.frames if f.frame_type != "light" and not f.decoy} <= used
    right_darks = {
        (f.exposure, f.gain, f.ccd_temp < -9) for f in truth.of_type("dark") if not f.decoy
    }
    assert right_darks == {(120.0, 100, True), (180.0, 100, True)}
    nights = {f.night for f in truth.lights}
    assert len(nights) == 2
    for light in truth.lights:
        flats = [truth.by_path()[p] for p in light.calibration["flat"]]
        assert flats and all(f.night == light.night and f.filter == light.filter for f in flats)
    assert len(result.truth_files) == 2


def test_wrong_objects_and_off_target_frames(tmp_path: Path) -> None:
    overrides = {
        "wrong_object_probability": 0.3,
        "empty_object_probability": 0.2,
        "off_target_probability": 0.3,
    }
    result = simulate("crab", tmp_path, seed=9, nights=1, frames=16, filters=("L",),
                      calibration_frames=1, overrides=overrides)  # fmt: skip
    lights = result.lights
    wrong = [f for f in lights if f.object_header not in ("M1", "")]
    empty = [f for f in lights if f.object_header == ""]
    off = [f for f in lights if f.off_target]
    assert wrong and empty and off
    for f in wrong + empty:
        assert fits.getheader(tmp_path / f.path)["OBJECT"] == f.object_header
        assert f.object_true == "M1"
    for f in lights:
        distance = angular_distance(np.array([f.ra]), np.array([f.dec]), f.header_ra, f.header_dec)
        assert (distance[0] > 2.5) == f.off_target


def test_compressed_output_reads_back(tmp_path: Path) -> None:
    plain = simulate("crab", tmp_path / "a", seed=2, nights=1, frames=1, calibration_frames=1)
    packed = simulate("crab", tmp_path / "b", seed=2, nights=1, frames=1, calibration_frames=1,
                      compress=True)  # fmt: skip
    light = packed.lights[0]
    assert light.path.endswith(".fits.fz")
    assert all(p.endswith(".fz") for paths in light.calibration.values() for p in paths)
    with fits.open(tmp_path / "b" / light.path) as hdul:
        data = hdul[1].data
    assert np.array_equal(data, fits.getdata(tmp_path / "a" / plain.lights[0].path))


def test_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["simulate", "crab", "--out", str(tmp_path), "--frames", "2", "--filters", "L,R",
            "--calibration-frames", "1", "--nights", "1"]  # fmt: skip
    outcome = runner.invoke(cli, args)
    assert outcome.exit_code == 0, outcome.output
    assert "2 light" in outcome.output
    assert {f.filter for f in read_truth(tmp_path).lights} == {"L"}  # blocks of 5 per filter
    bad = runner.invoke(cli, ["simulate", "crab", "--out", str(tmp_path), "--filters", "X"])
    assert bad.exit_code == 2 and "unknown filter" in bad.output
    with pytest.raises(SimulationError):
        simulate("nowhere", tmp_path)
