"""Progress and tasking on catalogue rows: a 2x3 M31 mosaic with two panels short of Ha, a
completed target and one that never rises, planned for a real October night in England."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.coordinates import SkyCoord

from september.catalogue.database import engine_for
from september.config import config_from_mapping
from september.ekos.scheduler import read_scheduler_list
from september.ekos.sequence import read_sequence_queue
from september.services.plan import (
    plan_nights,
    progress_markdown,
    target_progress,
    write_plan,
)
from september.sky.targets import panels_for, parse_targets
from tests.planning.planning_rows import insert_lights

pytestmark = pytest.mark.db

TARGETS = """
[camera]
field = [1.9, 1.45]

[[target]]
name = "M31"
priority = 1
mosaic = { rows = 2, cols = 3, overlap = 0.2, rotation = 0 }
sub_exposure = { L = 120, Ha = 300 }
[target.desired_hours]
L = 2
Ha = 3

[[target]]
name = "M45"
priority = 2
sub_exposure = { L = 120 }
[target.desired_hours]
L = 1

[[target]]
name = "Carina"
ra = 161.265
dec = -59.685
[target.desired_hours]
Ha = 2
"""
SHORT_PANELS = {"r1c1", "r2c3"}
NIGHT = date(2026, 10, 15)
CONFIG = config_from_mapping(
    {
        "site": {"latitude": 51.5, "longitude": -0.1, "elevation": 50},
        "plan": {"filter_labels": "H-alpha = Ha 7nm, L=Lum"},  # the wheel's own names
    }
)


def _fill(url: str, *, rejected: bool = True) -> None:
    """M31: every panel has its L; four panels have all their Ha, two have 1 h of 3 h."""
    targets = parse_targets(__import__("tomllib").loads(TARGETS))
    m31, m45, _ = targets.targets
    rng = np.random.default_rng(10)
    with engine_for(url).begin() as connection:
        for panel in panels_for(m31):
            insert_lights(
                connection, panel.ra, panel.dec, filter_name="L", count=60, exposure=120, rng=rng
            )
            short = panel.name in SHORT_PANELS
            insert_lights(
                connection,
                panel.ra,
                panel.dec,
                filter_name="H-alpha" if short else "Ha",
                count=12 if short else 36,
                exposure=300,
                rng=rng,
            )
            if short and rejected:
                insert_lights(
                    connection,
                    panel.ra,
                    panel.dec,
                    filter_name="Ha",
                    count=4,
                    exposure=300,
                    rng=rng,
                    grade="rejected",
                    reasons=("transparency",),
                )
                insert_lights(
                    connection,
                    panel.ra,
                    panel.dec,
                    filter_name="Ha",
                    count=2,
                    exposure=300,
                    rng=rng,
                    solved=False,
                )
        insert_lights(connection, m45.ra, m45.dec, filter_name="L", count=30, exposure=120, rng=rng)


@pytest.fixture
def targets():
    from tomllib import loads

    return parse_targets(loads(TARGETS))


def test_progress_per_panel_and_filter(database_url: str, targets) -> None:
    _fill(database_url)
    progress = {tp.target.name: tp for tp in target_progress(engine_for(database_url), targets)}
    m31 = progress["M31"]
    assert [p.panel.name for p in m31.panels] == ["r1c1", "r1c2", "r1c3", "r2c1", "r2c2", "r2c3"]
    for pp in m31.panels:
        by_filter = {f.filter: f for f in pp.filters}
        assert by_filter["L"].accepted == pytest.approx(2 * 3600)
        assert by_filter["L"].accepted_frames == 60
        if pp.panel.name in SHORT_PANELS:
            assert by_filter["Ha"].accepted == pytest.approx(3600)
            assert by_filter["Ha"].deficit == pytest.approx(2 * 3600)
            assert by_filter["Ha"].rejected_frames == 6
            assert by_filter["Ha"].rejected_reasons == {"transparency": 4, "unsolved: no-match": 2}
        else:
            assert by_filter["Ha"].completion == 1.0
    assert m31.outside_frames == 0
    table = progress_markdown(list(progress.values()))
    row = "| M31 | r1c1 | Ha | 1.00 | 3.00 | 33% | 6 (transparency x4, unsolved: no-match x2) |"
    assert row in table
    assert progress["M45"].completion == 1.0
    assert progress["Carina"].completion == 0.0


def test_tasking_fills_exactly_the_missing_panels_and_filter(
    database_url: str, targets, tmp_path: Path
) -> None:
    _fill(database_url)
    progress = target_progress(engine_for(database_url), targets)
    plan = plan_nights(CONFIG, progress, NIGHT, nights=1)
    night = plan.nights[0]
    assert 9.0 < night.night.hours < 10.5  # astronomical darkness, mid-October at 51.5 N
    tasked = {(t.target.name, t.panel.name): t for t in night.tasks}
    assert set(tasked) == {("M31", name) for name in SHORT_PANELS}
    for task in tasked.values():
        assert [e.filter for e in task.exposures] == ["Ha"]
        ha = task.exposures[0]
        assert ha.exposure == 300
        assert ha.deficit == pytest.approx(7200)
        assert ha.seconds >= ha.deficit  # the counts cover the deficit
        # ...grown by the Ha rejection rate of the target (8 of 176 solved-or-not Ha frames)
        assert ha.count == int(np.ceil(7200 / (300 * (168 / 180))))
    skipped = dict(night.skipped)
    assert "never above 30 deg" in skipped["Carina"]
    assert not any(label.startswith("M45") for label in skipped)  # complete: not even tried

    files = write_plan(plan, tmp_path, CONFIG, "esl")
    esl = next(p for p in files if p.suffix == ".esl")
    listing = read_scheduler_list(esl, strict=True)
    assert listing.version == "2.2"
    panels = {p.name: p for p in panels_for(progress[0].target)}
    assert {job.name for job in listing.jobs} == {"M31-r1c1", "M31-r2c3"}
    for job in listing.jobs:
        panel = panels[job.name.split("-")[1]]
        offset = SkyCoord(job.ra_hours * 15, job.dec, unit="deg").separation(
            SkyCoord(panel.ra, panel.dec, unit="deg")
        )
        assert offset.arcsec < 1.0
        assert job.startup == "ASAP" and job.completion == "Sequence"
        assert job.min_altitude == 30 and job.enforce_twilight
        assert job.steps == ("Track", "Focus", "Align", "Guide")
        queue = read_sequence_queue(job.sequence, strict=True)
        (row,) = queue.jobs
        assert (row.filter, row.frame_type, row.exposure) == ("Ha 7nm", "Light", 300)
        assert row.temperature == -10 and row.enforce_temperature
        assert row.frame == (0, 0, 4656, 3520) and row.binning == (1, 1)  # as catalogued
        assert row.count == tasked[("M31", panel.name)].exposures[0].count
        assert row.fits_directory.endswith(NIGHT.isoformat())


def test_frames_land_in_the_panel_they_were_taken_for(database_url: str, targets) -> None:
    """The catalogue's solved centres, assigned geometrically, agree with the layout to < 1"."""
    _fill(database_url, rejected=False)
    m31 = targets.targets[0]
    with engine_for(database_url).connect() as connection:
        rows = connection.execute(
            sa.text("SELECT ra, dec FROM subframes WHERE filter = 'L' ORDER BY id")
        ).all()
    centres = SkyCoord([r.ra for r in rows], [r.dec for r in rows], unit="deg")
    panels = panels_for(m31)
    for i, panel in enumerate(panels):
        block = centres[i * 60 : (i + 1) * 60]
        mean = SkyCoord(block.cartesian.mean(), representation_type="cartesian").spherical
        centre = SkyCoord(mean.lon, mean.lat)
        # 60 dithers of up to 3': the mean pointing is within 1' of the panel centre
        assert centre.separation(SkyCoord(panel.ra, panel.dec, unit="deg")).arcmin < 1.0


def test_complete_catalogue_gets_no_tasking(database_url: str, targets, tmp_path: Path) -> None:
    _fill(database_url)
    rng = np.random.default_rng(3)
    with engine_for(database_url).begin() as connection:
        for panel in panels_for(targets.targets[0]):
            if panel.name in SHORT_PANELS:
                insert_lights(
                    connection,
                    panel.ra,
                    panel.dec,
                    filter_name="Ha",
                    count=24,
                    exposure=300,
                    rng=rng,
                )
    progress = target_progress(engine_for(database_url), targets)
    plan = plan_nights(CONFIG, progress, NIGHT, nights=2)
    assert all(not night.tasks for night in plan.nights)
    files = write_plan(plan, tmp_path, CONFIG, "esl")
    listing = read_scheduler_list(next(p for p in files if p.suffix == ".esl"), strict=True)
    assert listing.jobs == ()


def test_solved_lights_count_before_grading_exists(database_url: str, targets) -> None:
    with engine_for(database_url).begin() as connection:
        for column in ("grade_override", "grade_reasons", "grade"):
            connection.execute(sa.text(f"ALTER TABLE subframes DROP COLUMN IF EXISTS {column}"))
    _fill(database_url)
    progress = target_progress(engine_for(database_url), targets)
    r1c1 = {f.filter: f for f in progress[0].panels[0].filters}
    # without grades the 4 "rejected" frames are solved lights, so they count; unsolved do not
    assert r1c1["Ha"].accepted_frames == 16
    assert r1c1["Ha"].rejected_reasons == {"unsolved: no-match": 2}


def test_carry_over_fills_later_nights(database_url: str, targets) -> None:
    """Without enough time on night 1, the rest of the deficit is planned on night 2."""
    _fill(database_url)
    progress = target_progress(engine_for(database_url), targets)
    greedy = config_from_mapping(
        {"site": {"latitude": 51.5, "longitude": -0.1}, "plan": {"frame_overhead": 3000}}
    )
    plan = plan_nights(greedy, progress, NIGHT, nights=2)
    first, second = plan.nights
    counts = [sum(e.count for t in n.tasks for e in t.exposures) for n in (first, second)]
    assert counts[0] > 0 and counts[1] > 0
    needed = 2 * int(np.ceil(7200 / (300 * (168 / 180))))
    assert sum(counts) <= needed


def test_midsummer_night_without_darkness_gets_no_tasking(database_url: str, targets) -> None:
    _fill(database_url)
    progress = target_progress(engine_for(database_url), targets)
    (night,) = plan_nights(CONFIG, progress, date(2026, 6, 21)).nights
    assert night.tasks == () and night.night.hours == 0
    skipped = dict(night.skipped)
    assert skipped["M31 r1c1"] == "no astronomical darkness"
    assert "M31 r1c2" not in skipped and "M45" not in skipped  # complete: nothing to skip
