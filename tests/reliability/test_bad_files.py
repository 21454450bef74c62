"""Corrupt, truncated, empty and foreign files are recorded once with a reason, skipped while
they stay the same, and tried again as soon as their size or mtime changes."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from september.config import Config
from september.services.ingest import FAILED, UNCHANGED, IngestOptions, ingest
from tests.reliability.conftest import Catalogue, tiny_fits_bytes

pytestmark = pytest.mark.db


def _table_only_fits() -> bytes:
    """A valid FITS file with no image: a foreign product (a catalogue table) on the share."""
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.arange(5.0))])
    buffer = BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(buffer)
    return buffer.getvalue()


def _run(share: Path, url: str):
    return ingest([share], Config(), workers=1, progress=False, options=IngestOptions(url))


def test_bad_files_are_recorded_and_retried_only_when_changed(
    tmp_path: Path, database_url: str, catalogue: Catalogue
):
    share = tmp_path / "share"
    share.mkdir()
    good = tiny_fits_bytes(1, size=64)
    files = {
        "corrupt": share / "Light_corrupt.fits",
        "truncated": share / "Light_truncated.fits",
        "empty": share / "Light_empty.fits",
        "foreign": share / "catalogue_table.fits",
        "jpeg": share / "snapshot.fit",
    }
    files["corrupt"].write_bytes(np.random.default_rng(3).bytes(8640))
    files["truncated"].write_bytes(good[: len(good) // 2])
    files["empty"].write_bytes(b"")
    files["foreign"].write_bytes(_table_only_fits())
    files["jpeg"].write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(3000))
    (share / "notes.txt").write_text("not a frame: never looked at")
    (share / "Bias_ok.fits").write_bytes(tiny_fits_bytes(2))

    first = _run(share, database_url)
    assert first.statuses["ingested"] == 1
    assert first.failed == len(files)
    failures = catalogue.failures()
    assert set(failures) == {str(p) for p in files.values()}
    assert all(row.attempts == 1 for row in failures.values())
    reasons = {name: failures[str(path)].reason for name, path in files.items()}
    assert reasons == {
        "corrupt": "not-fits",
        "truncated": "truncated",
        "empty": "empty",
        "foreign": "not-an-image",
        "jpeg": "not-fits",
    }

    # Unchanged: skipped without being read again (no new attempt).
    second = _run(share, database_url)
    assert second.statuses[FAILED] == 0 and second.statuses[UNCHANGED] == len(files) + 1
    assert {p: r.attempts for p, r in catalogue.failures().items()} == {
        str(p): 1 for p in files.values()
    }

    # Changed: a new mtime, or new content, makes it a candidate again.
    stat = files["corrupt"].stat()
    os.utime(files["corrupt"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    files["empty"].write_bytes(b"\x00" * 100)
    third = _run(share, database_url)
    assert third.statuses[FAILED] == 2
    attempts = {p: r.attempts for p, r in catalogue.failures().items()}
    assert attempts[str(files["corrupt"])] == 2
    assert attempts[str(files["empty"])] == 2
    assert attempts[str(files["truncated"])] == 1
    assert catalogue.failures()[str(files["empty"])].reason == "not-fits"  # 100 NUL bytes now

    # The copy completes: the truncated file is catalogued and its failure record goes.
    files["truncated"].write_bytes(good)
    fourth = _run(share, database_url)
    assert fourth.statuses["ingested"] == 1
    assert str(files["truncated"]) in catalogue.frames()
    assert str(files["truncated"]) not in catalogue.failures()
    assert catalogue.frame_count() == 2
