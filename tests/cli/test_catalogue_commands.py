"""``september ingest``, ``query`` and ``db`` through click's runner on a real database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits
from click.testing import CliRunner

from september.catalogue import frames
from september.catalogue.database import engine_for
from september.cli import cli
from tests.catalogue.rows import random_rows


@pytest.fixture
def run(database_url: str, tmp_path: Path):
    env = {"SEPTEMBER_DATABASE_URL": database_url, "SEPTEMBER_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def filled(database_url: str) -> list[dict]:
    rows = random_rows(300, seed=11)
    with engine_for(database_url).begin() as connection:
        for row in rows:
            frames.upsert_frame(connection, row)
    return rows


def test_query_count_matches_the_blog_sql(run, filled, database_url: str) -> None:
    with engine_for(database_url).connect() as connection:
        expected = connection.exec_driver_sql(
            "select count(*) from subframes where q3c_radial_query(ra, dec, 83.6, 22, 5);"
        ).scalar_one()
    by_count = run("query", "--ra", "83.6", "--dec", "22", "--radius", "5", "--count")
    sexagesimal = run("query", "--ra", "05:34:24", "--dec", "+22:00:00", "--radius", "5d")
    as_json = run("query", "--ra", "83.6", "--dec", "22", "--radius", "5", "--format", "json")
    assert expected > 10
    assert int(by_count.output) == expected
    assert f"{expected} frame(s)" in sexagesimal.output
    objects = json.loads(as_json.output)
    assert len(objects) == expected and {"path", "ra", "dec", "wcs"} <= set(objects[0])


def test_covering_a_named_target(run, filled) -> None:
    pytest.importorskip("september.astrometry.footprint")
    covering = run("query", "--target", "Crab", "--covering", "--format", "json")
    assert covering.exit_code == 0
    covering_paths = {f["path"] for f in json.loads(covering.output)}
    assert covering_paths and covering_paths <= {f["path"] for f in filled}


def test_target_filters_and_csv(run, filled) -> None:
    near = run("query", "--target", "M1", "--radius", "1", "--format", "json")
    bias = run("query", "--type", "bias", "--format", "csv")
    listed = list(csv.DictReader(io.StringIO(bias.output)))
    dated = run("query", "--since", "2026-11-02", "--until", "2026-11-02", "--count")
    assert near.exit_code == 0 and json.loads(near.output)
    assert len(listed) == sum(1 for r in filled if r["frame_type"] == "bias")
    assert all(r["frame_type"] == "bias" for r in listed)
    assert int(dated.output) == 24  # rows are one hour apart from 2026-11-01 00:00


def test_query_errors_are_clean(run) -> None:
    result = CliRunner().invoke(cli, ["query", "--ra", "10"])
    assert result.exit_code == 2 and "--dec" in result.output
    unknown = run("query", "--target", "Planet X")
    assert unknown.exit_code == 2 and "Error:" in unknown.output


def test_ingest_and_db_commands(run, tmp_path: Path, database_url: str) -> None:
    share = tmp_path / "share"
    share.mkdir()
    rng = np.random.default_rng(4)
    for index in range(3):
        data = (400 + rng.normal(0, 5, (40, 50))).astype(np.uint16)
        fits.PrimaryHDU(data, header=fits.Header({"IMAGETYP": "Bias"})).writeto(
            share / f"bias_{index}.fits"
        )
    ok = run("ingest", str(share), "-j", "1", "--no-progress")
    (share / "broken.fits").write_bytes(b"SIMPLE  =")
    failed = run("ingest", str(share), "--no-progress")
    status = run("db", "status")
    listed = run("db", "failures")
    maintained = run("db", "maintain")
    assert ok.exit_code == 0 and "ingested" in ok.output
    assert failed.exit_code == 1 and "1 file(s) could not be catalogued" in failed.output
    assert "bias" in status.output and "files that failed to ingest: 1" in status.output
    assert "broken.fits" in listed.output
    assert maintained.exit_code == 0
    with engine_for(database_url).connect() as connection:
        assert connection.execute(sa.text("select count(*) from subframes")).scalar_one() == 3
