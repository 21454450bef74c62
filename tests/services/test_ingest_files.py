"""Ingest without plate solving: calibration frames, bad files, moves, copies and re-runs.

Frames are written here with a seeded generator; the lights-and-solving tests use the simulator
(test_ingest_sim.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits

from september.catalogue import frames
from september.catalogue.database import engine_for
from september.config import Config
from september.services.ingest import IngestOptions, ingest, ingest_file

SHAPE = (64, 96)


def _write(path: Path, data: np.ndarray, **cards: object) -> Path:
    header = fits.Header()
    for key, value in cards.items():
        header[key.replace("_", "-")] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data=data, header=header).writeto(path)
    return path


def _calibration(path: Path, kind: str, seed: int, level: float = 500.0) -> Path:
    rng = np.random.default_rng(seed)
    data = (level + rng.normal(0, 10, SHAPE)).astype(np.uint16)
    return _write(path, data, IMAGETYP=kind, EXPTIME=0.0 if "Bias" in kind else 60.0, GAIN=100)


BAD_KINDS = {
    "empty": "zero.fits",
    "truncated": "truncated.fits",
    "not-fits": "notes.fits",
    "corrupt": "corrupt.fit",
    "cube": "cube.fits",
    "nan": "nan.fits",
    "absurd-header": "absurd.fits",
}


def _bad_files(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / name for kind, name in BAD_KINDS.items()}
    paths["empty"].write_bytes(b"")
    good = _calibration(folder / "tmp-good.fits", "Bias Frame", 9)
    paths["truncated"].write_bytes(good.read_bytes()[: 2880 + 4000])
    paths["not-fits"].write_text("observing notes, not an image\n" * 200)
    raw = bytearray(good.read_bytes())
    raw[:2880] = rng.integers(32, 127, 2880, dtype=np.uint8).tobytes()
    paths["corrupt"].write_bytes(bytes(raw))
    good.unlink()
    _write(paths["cube"], rng.normal(0, 1, (3, *SHAPE)).astype(np.float32), IMAGETYP="Light")
    _write(paths["nan"], np.full(SHAPE, np.nan, np.float32), IMAGETYP="Light")
    _write(
        paths["absurd-header"],
        rng.integers(0, 1000, SHAPE).astype(np.uint16),
        IMAGETYP="Dark",
        EXPTIME=1e9,
    )
    return paths


@pytest.fixture
def options(database_url: str) -> IngestOptions:
    return IngestOptions(database_url=database_url)


def _count(url: str, table: str) -> int:
    with engine_for(url).connect() as connection:
        return connection.execute(sa.text(f"select count(*) from {table}")).scalar_one()


def test_calibration_frames_are_catalogued_without_a_sky_position(
    tmp_path: Path, options: IngestOptions
) -> None:
    share = tmp_path / "share"
    _calibration(share / "bias" / "b1.fits", "Bias Frame", 1, level=300)
    _calibration(share / "darks" / "d1.fit", "DARK", 2, level=700)
    _calibration(share / "flats" / "f1.fits", "Flat Field", 3, level=20000)
    (share / "flats" / "f2.fits.part").write_bytes(b"half a copy")
    (share / "readme.txt").write_text("not a frame")
    summary = ingest([share], Config(), workers=1, progress=False, options=options)
    with engine_for(options.database_url).connect() as connection:
        records = frames.listing(connection)
    assert summary.found == 3 and summary.statuses["ingested"] == 3 and summary.failed == 0
    assert sorted(r.frame_type for r in records) == ["bias", "dark", "flat"]
    for record in records:
        assert record.solve_status == "skipped" and record.ra is None and record.corners is None
        assert (record.width, record.height) == (SHAPE[1], SHAPE[0])
    levels = {r.frame_type: r.background for r in records}
    # Truth: the level written plus the uint16 truncation (about -0.5 ADU).
    assert levels["bias"] == pytest.approx(299.5, abs=1.5)
    assert levels["flat"] == pytest.approx(19999.5, abs=1.5)


def test_every_bad_kind_is_recorded_with_its_reason_and_the_run_goes_on(
    tmp_path: Path, options: IngestOptions
) -> None:
    share = tmp_path / "share"
    bad = _bad_files(share / "bad")
    _calibration(share / "good.fits", "Bias Frame", 5)
    summary = ingest([share], Config(), workers=2, progress=False, options=options)
    with engine_for(options.database_url).connect() as connection:
        recorded = {f.path: f for f in frames.failures(connection)}
    assert summary.statuses["ingested"] == 1
    assert summary.failed == len(BAD_KINDS) == len(recorded)
    reasons = {kind: recorded[str(path)].reason for kind, path in bad.items()}
    assert reasons["empty"] == "empty"
    assert reasons["truncated"] == "truncated"
    assert reasons["not-fits"] == "not-fits"
    assert reasons["corrupt"] in {"not-fits", "unreadable", "not-an-image"}
    assert reasons["cube"] == "cube"
    assert reasons["nan"] == "nan"
    assert reasons["absurd-header"] == "absurd-header"
    assert all(f.message for f in recorded.values())

    # A second run skips them all cheaply; a changed file is retried.
    again = ingest([share], Config(), workers=1, progress=False, options=options)
    assert again.failed == 0 and again.statuses["unchanged"] == len(BAD_KINDS) + 1
    _calibration(share / "fixed.fits", "Bias Frame", 6)
    shutil.copyfile(share / "fixed.fits", bad["empty"])
    os.unlink(share / "fixed.fits")
    third = ingest([share], Config(), workers=1, progress=False, options=options)
    assert third.statuses["ingested"] == 1 and third.failed == 0
    assert _count(options.database_url, "ingest_failures") == len(BAD_KINDS) - 1


def test_rerun_move_and_copy(tmp_path: Path, options: IngestOptions) -> None:
    share = tmp_path / "share"
    for index in range(4):
        _calibration(share / f"b{index}.fits", "Bias", 10 + index)
    first = ingest([share], Config(), workers=1, progress=False, options=options)
    again = ingest([share], Config(), workers=1, progress=False, options=options)
    assert first.statuses["ingested"] == 4
    assert again.statuses["unchanged"] == 4 and _count(options.database_url, "subframes") == 4

    # A move (copy to a new name, delete the original) updates the path; a second copy of
    # content that is still in place is a duplicate, remembered so it is not hashed again.
    shutil.copy2(share / "b0.fits", share / "renamed.fits")
    os.unlink(share / "b0.fits")
    shutil.copy2(share / "b1.fits", share / "copy-of-b1.fits")
    moved = ingest([share], Config(), workers=1, progress=False, options=options)
    assert moved.statuses["moved"] == 1 and moved.statuses["duplicate"] == 1
    assert moved.failed == 0
    with engine_for(options.database_url).connect() as connection:
        paths = {r.path for r in frames.listing(connection)}
    assert str(share / "renamed.fits") in paths and str(share / "b0.fits") not in paths
    assert _count(options.database_url, "subframes") == 4
    last = ingest([share], Config(), workers=1, progress=False, options=options)
    assert last.statuses["unchanged"] == 5


def test_two_ingesters_at_once_write_each_frame_once(
    tmp_path: Path, options: IngestOptions
) -> None:
    share = tmp_path / "share"
    paths = [_calibration(share / f"d{i}.fits", "Dark", 20 + i) for i in range(6)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda p: ingest_file(str(p), options), paths * 4))
    assert sum(o.status == "ingested" for o in outcomes) == 6
    assert {o.status for o in outcomes} <= {"ingested", "unchanged", "known"}
    assert _count(options.database_url, "subframes") == 6
