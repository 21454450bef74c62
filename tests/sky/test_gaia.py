"""The bundled Gaia DR3 catalogue reads completely and cone searches are exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from september.errors import SeptemberError
from september.sky.gaia import (
    angular_distance,
    bundle_path,
    cone,
    load_bundled_gaia,
    read_gaia_file,
)


def test_bundle_reads_every_star() -> None:
    stars = load_bundled_gaia()
    assert len(stars) == 482_176
    assert stars["mag"].max() <= 10.5 and np.all(np.diff(stars["dec"]) >= 0)
    assert np.all((stars["ra"] >= 0) & (stars["ra"] < 360))


def test_cone_matches_brute_force() -> None:
    stars = load_bundled_gaia()
    brute = angular_distance(stars["ra"], stars["dec"], 83.63, 22.01) <= 1.5
    found = cone(83.63, 22.01, 1.5)
    assert sorted(found["source_id"]) == sorted(stars["source_id"][brute])
    assert len(found) > 50
    bright = cone(83.63, 22.01, 1.5, mag_limit=8.0)
    assert 0 < len(bright) < len(found) and bright["mag"].max() <= 8.0


def test_proper_motion_moves_stars() -> None:
    now = cone(83.63, 22.01, 1.0, epoch=2026.0)
    then = cone(83.63, 22.01, 1.0)
    shift = angular_distance(now["ra"], now["dec"], 0, 0) - angular_distance(
        then["ra"], then["dec"], 0, 0
    )
    assert np.abs(shift).max() * 3600 < 10.0 and np.abs(shift).max() > 0


def test_foreign_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"NOPE" + bytes(40))
    with pytest.raises(SeptemberError, match="not a Gaia bundle"):
        read_gaia_file(bad)
    truncated = tmp_path / "t.bin"
    truncated.write_bytes(bundle_path().read_bytes()[:1000])
    with pytest.raises(SeptemberError, match="truncated"):
        read_gaia_file(truncated)
