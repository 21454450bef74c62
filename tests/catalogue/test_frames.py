"""Frame rows: upsert by content, moves, failures, filters and the Q3C sky queries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from astropy.coordinates import SkyCoord

from september.catalogue import frames
from september.catalogue.database import engine_for
from september.catalogue.frames import FrameFilters
from tests.catalogue.rows import make_row, random_rows


@pytest.fixture
def engine(database_url: str) -> sa.Engine:
    return engine_for(database_url)


@pytest.fixture
def filled(engine: sa.Engine) -> list[dict]:
    rows = random_rows(400)
    with engine.begin() as connection:
        for row in rows:
            assert frames.upsert_frame(connection, row).inserted
    return rows


def _brute_force_near(rows: list[dict], ra: float, dec: float, radius: float) -> set[str]:
    lights = [r for r in rows if r.get("ra") is not None]
    coords = SkyCoord([r["ra"] for r in lights], [r["dec"] for r in lights], unit="deg")
    sep = coords.separation(SkyCoord(ra, dec, unit="deg")).deg
    return {r["sha256"] for r, s in zip(lights, sep, strict=True) if s <= radius}


@pytest.mark.parametrize(
    ("ra", "dec", "radius"), [(83.6, 22, 5), (83.6, 22, 2), (0.5, 0.0, 3), (120, 88, 4)]
)
def test_radial_query_agrees_with_astropy_separation(
    engine: sa.Engine, filled: list[dict], ra: float, dec: float, radius: float
) -> None:
    expected = _brute_force_near(filled, ra, dec, radius)
    with engine.connect() as connection:
        found = {r.sha256 for r in frames.radial(connection, ra, dec, radius)}
        count = frames.count_radial(connection, ra, dec, radius)
        sql = connection.exec_driver_sql(
            f"select count(*) from subframes where q3c_radial_query(ra, dec, {ra}, {dec}, {radius})"
        ).scalar_one()
    assert len(expected) > 3
    assert found == expected
    assert count == sql == len(expected)


def test_covering_candidates_are_every_frame_within_its_own_radius(
    engine: sa.Engine, filled: list[dict]
) -> None:
    point = SkyCoord(83.6, 22, unit="deg")
    expected = {
        r["sha256"]
        for r in filled
        if r.get("ra") is not None
        and SkyCoord(r["ra"], r["dec"], unit="deg").separation(point).deg <= r["radius_deg"]
    }
    with engine.connect() as connection:
        found = {r.sha256 for r in frames.covering_candidates(connection, 83.6, 22)}
    assert expected
    assert found == expected


def test_filters(engine: sa.Engine, filled: list[dict]) -> None:
    since = datetime(2026, 11, 3, tzinfo=UTC)
    until = datetime(2026, 11, 5, tzinfo=UTC)
    filters = FrameFilters(frame_type="Light", filter="ha", since=since, until=until, object="m*")
    expected = {
        r["sha256"]
        for r in filled
        if r["frame_type"] == "light"
        and r["filter"] == "Ha"
        and since <= r["date_obs"] < until
        and r["object"].lower().startswith("m")
    }
    with engine.connect() as connection:
        listed = {r.sha256 for r in frames.listing(connection, filters)}
        near = {r.sha256 for r in frames.radial(connection, 0, 90, 180, filters)}
    assert expected
    assert listed == expected
    assert near == expected


def test_reupsert_adds_nothing_and_a_move_updates_the_path(engine: sa.Engine) -> None:
    row = make_row(1, 83.6, 22.0)
    with engine.begin() as connection:
        first = frames.upsert_frame(connection, row)
        again = frames.upsert_frame(connection, row)
        moved = frames.relocate(connection, row["sha256"], "/share/renamed.fits", 5, 1.5)
        unknown = frames.relocate(connection, "0" * 64, "/share/x.fits", 5, 1.5)
        record = frames.find_by_sha(connection, row["sha256"])
        total = connection.exec_driver_sql("select count(*) from subframes").scalar_one()
    assert first.inserted and not again.inserted and first.id == again.id
    assert moved == row["path"] and unknown is None
    assert record is not None and record.path == "/share/renamed.fits" and record.size == 5
    assert total == 1
    assert record.to_dict()["corners"] == pytest.approx(row["corners"])


def test_new_content_at_a_known_path_replaces_the_old_row(engine: sa.Engine) -> None:
    old = make_row(1, 83.6, 22.0)
    new = make_row(2, 84.0, 21.0, path=old["path"])
    with engine.begin() as connection:
        frames.upsert_frame(connection, old)
        frames.upsert_frame(connection, new)
        record = frames.find_by_path(connection, old["path"])
        assert frames.find_by_sha(connection, old["sha256"]) is None
    assert record is not None and record.sha256 == new["sha256"]


def test_failures_are_recorded_counted_and_cleared_by_success(engine: sa.Engine) -> None:
    row = make_row(3, None, None)
    with engine.begin() as connection:
        frames.record_failure(connection, row["path"], 10, 1.0, "truncated", "cut short")
        frames.record_failure(connection, row["path"], 12, 2.0, "truncated", "cut short")
        known = frames.known_files(connection, "/share/")
        [failure] = frames.failures(connection)
        frames.upsert_frame(connection, row)
        assert frames.failures(connection) == []
        after = frames.known_files(connection, "/share/")
        elsewhere = frames.known_files(connection, "/elsewhere/")
    assert failure.attempts == 2 and failure.size == 12 and failure.reason == "truncated"
    assert known[row["path"]].failed and known[row["path"]].mtime == 2.0
    assert not after[row["path"]].failed and after[row["path"]].size == row["size"]
    assert elsewhere == {}


def test_maintain_clusters_on_the_q3c_index(engine: sa.Engine, filled: list[dict]) -> None:
    with engine.begin() as connection:
        frames.maintain(connection)
        clustered = connection.exec_driver_sql(
            "select indisclustered from pg_index where indexrelid = 'subframes_q3c'::regclass"
        ).scalar_one()
        correlation = connection.exec_driver_sql(
            "select count(*) from pg_stats where tablename = 'subframes'"
        ).scalar_one()
    assert clustered and correlation > 0
