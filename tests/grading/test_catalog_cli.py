"""`september catalog load` from the bundled Gaia data, a user's CSV/FITS table, and the Gaia
archive (which needs network: offline it must fail with a clear message)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table
from click.testing import CliRunner

from september.cli import cli
from september.sky.gaia import cone


def _run(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"SEPTEMBER_DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_bundled_cone_then_user_files_load_idempotently(database_url: str, tmp_path: Path) -> None:
    code, out = _run(
        database_url, "catalog", "load", "--source", "gaia-bundled",
        "--ra", "83.6", "--dec", "22", "--radius", "2",
    )  # fmt: skip
    expected = len(cone(83.6, 22.0, 2.0))
    assert code == 0 and f"{expected} new" in out, out
    rng = np.random.default_rng(7)
    csv = tmp_path / "mine.csv"
    Table(
        {"RA_ICRS": rng.uniform(10, 11, 50), "DE_ICRS": rng.uniform(40, 41, 50),
         "Gmag": rng.uniform(11, 15, 50)}
    ).write(csv, format="ascii.csv")  # fmt: skip
    fits = tmp_path / "mine.fits"
    Table(
        {"source_id": np.arange(1, 21) * 7, "ra": rng.uniform(0, 1, 20),
         "dec": rng.uniform(0, 1, 20), "phot_g_mean_mag": rng.uniform(8, 12, 20)}
    ).write(fits)  # fmt: skip
    assert _run(database_url, "catalog", "load", "--source", str(csv))[1].endswith(
        "50 stars read, 50 new in the catalogue\n"
    )
    assert "50 stars read, 0 new" in _run(database_url, "catalog", "load", "--source", str(csv))[1]
    assert "20 new" in _run(database_url, "catalog", "load", "--source", str(fits))[1]
    code, out = _run(database_url, "catalog", "status")
    assert code == 0
    assert f"gaia-bundled: {expected} stars" in out and "mine.csv: 50 stars" in out
    assert "mine.fits: 20 stars" in out


def test_bad_sources_fail_with_a_clear_message(database_url: str, tmp_path: Path) -> None:
    code, out = _run(
        database_url, "catalog", "load", "--source", "gaia-archive",
        "--ra", "83.6", "--dec", "22", "--radius", "1",
    )  # fmt: skip
    assert code == 2 and "cannot reach the Gaia archive" in out and "gaia-bundled" in out
    code, out = _run(database_url, "catalog", "load", "--ra", "83.6")
    assert code == 2 and "--ra, --dec and --radius together" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    code, out = _run(database_url, "catalog", "load", "--source", str(bad))
    assert code == 2 and "has no ra column" in out
    code, out = _run(database_url, "catalog", "load", "--source", str(tmp_path / "none.csv"))
    assert code == 2 and "does not exist" in out
