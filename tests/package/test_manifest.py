"""The export-package manifest contract: schema validation and reference checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from september.package.manifest import (
    ManifestError,
    load_manifest,
    validate_manifest,
    write_manifest,
)

SHA = "ab" * 32


def _example() -> dict:
    light = {
        "path": "lights/L/M1_Light_L_120_secs_0001.fits",
        "original_path": "/share/M1/Light/L/M1_Light_L_120_secs_0001.fits",
        "sha256": SHA,
        "frame_type": "light",
        "filter": "L",
        "exposure": 120.0,
        "weight": 0.9,
        "quality": {"fwhm": 2.1, "star_count": 812},
        "wcs": {"ra": 83.63, "dec": 22.01, "rotation": 12.5, "pixel_scale": 1.48},
        "calibration": {
            "bias": ["calibration/bias/bias_0001.fits"],
            "flat": ["calibration/flats/L/flat_0001.fits"],
            "reasons": {"bias": "same camera, gain 100, offset 30, bin 1"},
        },
    }
    bias = {
        "path": "calibration/bias/bias_0001.fits",
        "original_path": "/share/Calibration/bias_0001.fits",
        "sha256": "cd" * 32,
        "frame_type": "bias",
    }
    flat = {
        "path": "calibration/flats/L/flat_0001.fits",
        "original_path": "/share/Calibration/flat_0001.fits",
        "sha256": "ef" * 32,
        "frame_type": "flat",
        "filter": "L",
    }
    return {
        "schema": "september.package",
        "schema_version": "1.0",
        "created": "2026-11-21T06:00:00Z",
        "september_version": "0.1.0",
        "selection": {"target": "M1"},
        "cluster": {"name": "M1-P1", "ra": 83.63, "dec": 22.01},
        "frames": [light, bias, flat],
    }


def test_example_round_trips_through_write_and_load(tmp_path: Path) -> None:
    write_manifest(tmp_path, _example())
    manifest = load_manifest(tmp_path)
    assert manifest.filters() == ["L"]
    light = manifest.lights("L")[0]
    assert [f["frame_type"] for f in manifest.calibration_for(light, "bias")] == ["bias"]
    assert manifest.absolute(light) == tmp_path / "lights/L/M1_Light_L_120_secs_0001.fits"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda m: m["frames"][0].update(path="../../etc/passwd"), "does not match"),
        (lambda m: m["frames"][0].update(path="/etc/passwd"), "does not match"),
        (lambda m: m["frames"][0].pop("calibration"), "'calibration' is a required property"),
        (lambda m: m["frames"][0].update(sha256="xyz"), "does not match"),
        (lambda m: m.update(schema_version="2.0"), "does not match"),
        (
            lambda m: m["frames"][0]["calibration"].update(dark=["calibration/darks/none.fits"]),
            "is not in the package",
        ),
        (lambda m: m["frames"].append(copy.deepcopy(m["frames"][1])), "listed twice"),
    ],
)
def test_invalid_manifests_are_refused_with_the_reason(mutate, expected: str) -> None:
    manifest = _example()
    mutate(manifest)
    with pytest.raises(ManifestError, match=expected):
        validate_manifest(manifest)


def test_missing_or_broken_manifest_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="september export"):
        load_manifest(tmp_path)
    (tmp_path / "september.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path)
    (tmp_path / "september.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ManifestError, match="required property"):
        load_manifest(tmp_path)


def test_hostile_header_text_becomes_a_safe_component() -> None:
    from september.package.layout import frame_relpath, safe_component

    assert safe_component("../../etc") == "etc"
    assert safe_component("a/b\\c; rm -rf ~ $(x)") == "a_b_c_rm_-rf_x"
    assert safe_component("..") == "unknown"
    assert safe_component(".hidden") == "hidden"
    assert safe_component("Hα") == "H"
    path = frame_relpath("light", "../../L", "../x.fits", "ab" * 32)
    assert str(path) == "lights/L/abababab_x.fits"


def test_inside_refuses_escapes_but_allows_symlinked_frames(tmp_path: Path) -> None:
    from pathlib import PurePosixPath

    from september.package.layout import UnsafePathError, inside

    package = tmp_path / "pkg"
    (package / "lights").mkdir(parents=True)
    raw = tmp_path / "raw.fits"
    raw.write_bytes(b"x")
    (package / "lights" / "a.fits").symlink_to(raw)
    assert inside(package, PurePosixPath("lights/a.fits")) == package.resolve() / "lights/a.fits"
    with pytest.raises(UnsafePathError):
        inside(package, PurePosixPath("../outside.fits"))
    (package / "calibration").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="leads outside"):
        inside(package, PurePosixPath("calibration/bias/b.fits"))
