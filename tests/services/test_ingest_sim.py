"""Ingest of a simulated night with real solve-field, checked against the simulator's truth.

One small-scale crab night (24 lights + 12 calibration frames) is simulated once per session and
ingested once per module from a copy (so moving files never touches the simulator's output).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
import sqlalchemy as sa
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from sqlalchemy.engine import make_url

from september.catalogue import frames
from september.catalogue.database import engine_for
from september.catalogue.frames import FrameRecord
from september.config import Config
from september.services.ingest import IngestOptions, IngestSummary, ingest
from september.services.query import frames_covering, frames_near

pytestmark = [pytest.mark.slow, pytest.mark.solve, pytest.mark.db]

LIGHTS = 24


@pytest.fixture(scope="session")
def crab_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from september.sim import simulate

    out = tmp_path_factory.mktemp("crab-night") / "share"
    simulate(
        "crab",
        out,
        scale="small",
        seed=5,
        nights=1,
        frames=LIGHTS,
        filters=("L",),
        calibration_frames=3,
    )
    return out


@pytest.fixture(scope="module")
def module_database(postgres_admin_url: str, template_database: str) -> Iterator[str]:
    """A migrated database shared by this module's tests."""
    name = f"september_sim_{uuid.uuid4().hex[:10]}"
    admin = make_url(postgres_admin_url).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    engine_for(url).dispose()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def ingested(
    crab_night: Path, module_database: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, IngestSummary, IngestOptions]:
    share = tmp_path_factory.mktemp("ingest-copy") / "share"
    shutil.copytree(crab_night, share, ignore=shutil.ignore_patterns("truth"))
    options = IngestOptions(database_url=module_database, cpulimit=30.0)
    summary = ingest([share], Config(), workers=2, progress=False, options=options)
    return share, summary, options


def _records(url: str) -> list[FrameRecord]:
    with engine_for(url).connect() as connection:
        return frames.listing(connection)


def _by_relative_path(share: Path, records: list[FrameRecord]) -> dict[str, FrameRecord]:
    return {str(Path(r.path).relative_to(share)): r for r in records}


def test_clear_lights_solve_with_sub_pixel_centres(crab_night: Path, ingested) -> None:
    from september.sim import read_truth

    share, summary, options = ingested
    truth = read_truth(crab_night)
    rows = _by_relative_path(share, _records(options.database_url))
    assert summary.failed == 0 and len(rows) == len(truth.frames)
    clear = [f for f in truth.frames if f.frame_type == "light" and not f.cloudy and not f.trailed]
    solved = [f for f in clear if rows[f.path].solve_status == "solved"]
    errors_px = np.array(
        [
            SkyCoord(rows[f.path].ra, rows[f.path].dec, unit="deg")
            .separation(SkyCoord(f.ra, f.dec, unit="deg"))
            .arcsec
            / f.pixel_scale
            for f in solved
        ]
    )
    rate = len(solved) / len(clear)
    print(
        f"clear lights solved: {len(solved)}/{len(clear)} ({rate:.1%}); centre error vs truth: "
        f"median {np.median(errors_px):.3f} px, max {errors_px.max():.3f} px"
    )
    assert len(clear) >= 18
    assert rate >= 0.99
    assert errors_px.max() < 1.0
    for f in solved:
        row = rows[f.path]
        assert row.pixel_scale == pytest.approx(f.pixel_scale, rel=0.01)
        assert row.star_count and row.star_count > 10 and row.fwhm and row.stars
        assert len(row.corners or ()) == 8 and row.radius_deg and row.wcs
    for f in truth.frames:
        row = rows[f.path]
        # Ekos writes dark-flats as FRAME = 'Dark': the header cannot tell them apart.
        assert row.frame_type == f.frame_type or (f.frame_type, row.frame_type) == (
            "dark-flat",
            "dark",
        )
        assert row.exposure == pytest.approx(f.exposure)
        if f.frame_type != "light":
            assert row.solve_status == "skipped" and row.ra is None


def _solved(url: str) -> list[FrameRecord]:
    return [r for r in _records(url) if r.solve_status == "solved"]


def test_radial_query_agrees_with_astropy_separation(ingested) -> None:
    _, _, options = ingested
    solved = _solved(options.database_url)
    centres = SkyCoord([r.ra for r in solved], [r.dec for r in solved], unit="deg")
    engine = engine_for(options.database_url)
    for ra, dec in [(83.6, 22.0), (83.6331, 22.0145), (84.0, 22.2)]:
        separations = centres.separation(SkyCoord(ra, dec, unit="deg")).deg
        for radius in [*np.quantile(separations, [0.1, 0.5, 0.9]).tolist(), 5.0]:
            expected = {r.id for r, s in zip(solved, separations, strict=True) if s <= radius}
            found = {r.id for r in frames_near(engine, ra, dec, radius)}
            assert found == expected, (ra, dec, radius)
    with engine.connect() as connection:
        blog = connection.exec_driver_sql(
            "select count(*) from subframes where q3c_radial_query(ra, dec, 83.6, 22, 5);"
        ).scalar_one()
    assert blog == len(solved) - sum(
        1 for s in centres.separation(SkyCoord(83.6, 22, unit="deg")).deg if s > 5
    )


def test_covering_query_agrees_with_each_frames_wcs(ingested) -> None:
    _, _, options = ingested
    solved = _solved(options.database_url)
    wcses = [WCS(fits.Header.fromstring(r.wcs, sep="\n")) for r in solved]
    engine = engine_for(options.database_url)
    rng = np.random.default_rng(2)
    points = [(83.6331, 22.0145)] + [
        (83.63 + rng.uniform(-2.5, 2.5), 22.01 + rng.uniform(-2, 2)) for _ in range(60)
    ]
    checked = inside_any = 0
    for ra, dec in points:
        found = {r.id for r in frames_covering(engine, ra, dec)}
        for record, wcs in zip(solved, wcses, strict=True):
            x, y = wcs.all_world2pix(ra, dec, 0)
            margin = min(x + 0.5, record.width - 0.5 - x, y + 0.5, record.height - 0.5 - y)
            if abs(margin) < 2:  # within 2 px of an edge: TAN-SIP vs great circles may differ
                continue
            checked += 1
            inside_any += margin > 0
            assert (record.id in found) == (margin > 0), (ra, dec, record.path)
    assert checked > 1000 and inside_any > 50


def test_reingest_adds_nothing_and_a_moved_file_keeps_its_row(ingested) -> None:
    share, _first, options = ingested
    before = _records(options.database_url)
    again = ingest([share], Config(), workers=2, progress=False, options=options)
    assert again.statuses["unchanged"] == len(before) and again.statuses["ingested"] == 0
    light = next(r for r in before if r.frame_type == "light" and r.solve_status == "solved")
    new_path = Path(light.path).with_name("renamed-" + Path(light.path).name)
    shutil.copy2(light.path, new_path)  # inside the module's copy of the share
    Path(light.path).unlink()
    moved = ingest([share], Config(), workers=1, progress=False, options=options)
    after = _records(options.database_url)
    assert moved.statuses["moved"] == 1 and moved.statuses["ingested"] == 0
    assert len(after) == len(before)
    with engine_for(options.database_url).connect() as connection:
        record = frames.find_by_sha(connection, light.sha256)
        assert frames.find_by_path(connection, light.path) is None
        total = connection.execute(sa.text("select count(*) from subframes")).scalar_one()
    assert record is not None and record.path == str(new_path) and record.id == light.id
    assert record.ra == light.ra and total == len(before)
