"""Raw files are never modified: a full run (ingest, then the nightly job) over a read-only
share, by a process that cannot override file permissions, leaves every byte and mtime as it was."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import Catalogue, run_september, september_env, sha256

pytestmark = [pytest.mark.db, pytest.mark.solve, pytest.mark.slow]

LIGHTS = 2
# As root, permissions do not bind; without these capabilities they do (reading still works).
NO_OVERRIDE = [
    "setpriv",
    "--inh-caps=-all",
    "--bounding-set=-dac_override,-fowner,-linux_immutable",
]


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """relative path -> (sha256, size, mtime in ns) of every file under ``root``."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        info = path.stat()
        found[str(path.relative_to(root))] = (sha256(path), info.st_size, info.st_mtime_ns)
    return found


def _make_read_only(root: Path, writable: bool = False) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR if writable else 0
        os.chmod(path, (mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) | bits)


@pytest.fixture
def night(tmp_path: Path) -> Path:
    from september.sim import simulate

    share = tmp_path / "share"
    simulate(
        "crab",
        share,
        scale="small",
        seed=11,
        nights=1,
        frames=LIGHTS,
        filters=("L",),
        calibration_frames=1,
    )
    return share


def test_full_run_on_read_only_share_changes_nothing(
    tmp_path: Path, night: Path, database_url: str, catalogue: Catalogue
):
    before = _snapshot(night)
    frame_files = [
        p for p in before if p.lower().endswith((".fits", ".fit", ".fz", ".tif", ".tiff"))
    ]
    assert len(frame_files) > LIGHTS
    _make_read_only(night)  # chmod -R a-w
    try:
        probe = subprocess.run(
            [*NO_OVERRIDE, sys.executable, "-c", f"open({str(night / 'probe.txt')!r}, 'w')"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
        target = night / frame_files[0]
        probe = subprocess.run(
            [*NO_OVERRIDE, sys.executable, "-c", f"open({str(target)!r}, 'r+b')"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr

        env = september_env(database_url, tmp_path)
        ingest = run_september(
            ["ingest", str(night), "--no-progress"], env, timeout=600, prefix=NO_OVERRIDE
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert catalogue.frame_count() == len(frame_files)
        nightly = run_september(
            ["nightly", str(night), "--no-progress"], env, timeout=600, prefix=NO_OVERRIDE
        )
        assert nightly.returncode == 0, nightly.stdout + nightly.stderr
        assert (tmp_path / "data" / "reports").is_dir()
    finally:
        _make_read_only(night, writable=True)
    assert _snapshot(night) == before
    solved = catalogue.scalar("SELECT count(*) FROM subframes WHERE solve_status = 'solved'")
    assert solved >= 1  # the run really read the frames: lights were plate-solved
