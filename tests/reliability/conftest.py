"""Helpers for the reliability tests: tiny calibration frames, september as a real subprocess,
and reading back what the catalogue holds.

Tiny bias frames (IMAGETYP/EXPTIME headers, no stars) are ingested without plate solving, so
these tests exercise the ingest machinery (hashing, transactions, locks, retries) rather than
the science, and stay fast.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits

from september.catalogue.database import engine_for

SEPTEMBER = Path(sys.executable).with_name("september")


def tiny_fits_bytes(index: int, size: int = 32, frame_type: str = "BIAS") -> bytes:
    """A small 16-bit calibration frame whose pixels (seeded by ``index``) make it unique."""
    rng = np.random.default_rng(index)
    data = (rng.normal(1000.0, 10.0, (size, size))).astype(np.int16)
    hdu = fits.PrimaryHDU(data)
    header = hdu.header
    header["IMAGETYP"] = frame_type
    header["EXPTIME"] = 0.0 if frame_type == "BIAS" else 60.0
    header["GAIN"] = 100
    header["OFFSET"] = 50
    header["CCD-TEMP"] = -10.0
    header["XBINNING"] = 1
    header["YBINNING"] = 1
    header["INSTRUME"] = "Test camera"
    hours, rest = divmod(index % 86400, 3600)
    header["DATE-OBS"] = f"2026-11-20T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    buffer = BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def write_tiny_frames(folder: Path, count: int, start: int = 0, size: int = 32) -> list[Path]:
    """``count`` unique bias frames named like Ekos does, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"Bias_{index:05d}.fits"
        path.write_bytes(tiny_fits_bytes(index, size))
        paths.append(path)
    return paths


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def september_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a september subprocess using ``database_url`` and a private data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPTEMBER_")}
    config = tmp_path / "september.toml"
    config.touch()  # an empty configuration: the defaults plus the variables below
    env.update(
        SEPTEMBER_DATABASE_URL=database_url,
        SEPTEMBER_DATA_DIR=str(tmp_path / "data"),
        SEPTEMBER_CONFIG=str(config),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_september(
    args: list[str], env: dict[str, str], log: Path, prefix: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``september ARGS`` in its own process group, stdout+stderr into ``log``."""
    handle = log.open("ab")
    return subprocess.Popen(
        [*(prefix or []), str(SEPTEMBER), *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def run_september(
    args: list[str], env: dict[str, str], timeout: float = 120.0, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), str(SEPTEMBER), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    """Poll ``condition`` until it holds; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


@dataclass(frozen=True)
class Catalogue:
    """Read-only views of one test database."""

    url: str

    def scalar(self, sql: str, **params: object) -> object:
        with engine_for(self.url).connect() as connection:
            return connection.execute(sa.text(sql), params).scalar_one()

    def rows(self, sql: str, **params: object) -> list[sa.Row]:
        with engine_for(self.url).connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def frame_count(self) -> int:
        return int(self.scalar("SELECT count(*) FROM subframes"))

    def frames(self) -> dict[str, sa.Row]:
        """path -> (sha256, size, mtime, frame_type, width, height, background)."""
        rows = self.rows(
            "SELECT path, sha256, size, mtime, frame_type, width, height, background, "
            "solve_status FROM subframes"
        )
        return {row.path: row for row in rows}

    def failures(self) -> dict[str, sa.Row]:
        rows = self.rows("SELECT path, reason, attempts, size, mtime FROM ingest_failures")
        return {row.path: row for row in rows}


@pytest.fixture
def catalogue(database_url: str) -> Catalogue:
    return Catalogue(database_url)


def assert_catalogued_exactly_once(catalogue: Catalogue, paths: list[Path]) -> None:
    """Every file has one complete row with its own content hash, size and mtime; nothing else."""
    rows = catalogue.frames()
    expected = {str(p): p for p in paths}
    assert set(rows) == set(expected), (
        f"{len(set(expected) - set(rows))} files missing, "
        f"{len(set(rows) - set(expected))} unexpected rows"
    )
    assert catalogue.frame_count() == len(paths)  # no second row for any path
    for path_text, row in rows.items():
        path = expected[path_text]
        stat = path.stat()
        assert row.sha256 == sha256(path), path_text
        assert (row.size, row.mtime) == (stat.st_size, stat.st_mtime), path_text
        assert row.frame_type == "bias" and row.solve_status == "skipped", path_text
        assert (row.width, row.height) != (None, None) and row.background is not None, path_text
