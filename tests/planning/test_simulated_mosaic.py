"""End to end on a simulated night: the simulator's 3 x 2 M31 mosaic in L and Ha is ingested
(with plate solving) and graded, except the Ha frames of two panels; the plan must task exactly
those two panels, in Ha only, for at least the missing integration."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import psycopg
import pytest
from astropy.coordinates import SkyCoord
from sqlalchemy.engine import make_url

from september.config import Config, DatabaseConfig, SiteConfig
from september.ekos.scheduler import read_scheduler_list
from september.sky.targets import assign_panels, panels_for, parse_targets

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.solve]

SHORT = {"P1-1", "P3-2"}  # simulator panels whose Ha frames are left out of the catalogue
# The simulator's layout (september.sim.scenarios): 3 rows along PA 35 deg, 2 columns across,
# a 115' x 87' field with 15% overlap. Desired: one accepted frame per panel and filter.
TARGETS = """
[[target]]
name = "M31"
sub_exposure = { L = 120, Ha = 300 }
desired_hours = { L = 0.0333334, Ha = 0.0833334 }
[target.mosaic]
rows = 3
cols = 2
overlap = 0.15
rotation = 35
field = [1.9166667, 1.45]
"""


def _database(admin_url: str, template: str) -> str:
    """A fresh migrated database for the session (the per-test fixture is too short-lived)."""
    name = f"september_plan_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def mosaic_night(tmp_path_factory, postgres_admin_url: str, template_database: str):
    from september.catalogue.database import engine_for
    from september.services.grade import grade
    from september.services.ingest import find_frame_files, ingest
    from september.sim import read_truth, simulate

    root = tmp_path_factory.mktemp("mosaic")
    simulate(
        "mosaic", root, scale="small", seed=4, nights=1, frames=42, filters=("L", "Ha"),
        calibration_frames=3,
    )  # fmt: skip
    truth = read_truth(root)
    lights = [f for f in truth.frames if f.frame_type == "light"]
    keep = [str(root / f.path) for f in lights if not (f.filter == "Ha" and f.panel in SHORT)]
    assert len(keep) < len(lights)
    url = _database(postgres_admin_url, template_database)
    config = Config(
        database=DatabaseConfig(url=url), site=SiteConfig(latitude=51.5, longitude=-0.1)
    )
    ingest(find_frame_files(keep), config, workers=2, progress=False)
    grade(config, engine_for(url))
    return config, url, lights


def test_plan_tasks_exactly_the_panels_missing_ha(mosaic_night, tmp_path: Path) -> None:
    import tomllib

    from september.catalogue.database import engine_for
    from september.services.plan import plan_nights, target_progress, write_plan

    config, url, lights = mosaic_night
    targets = parse_targets(tomllib.loads(TARGETS))
    m31 = targets.targets[0]
    panels = panels_for(m31)
    # which of september's panels each simulator panel is (by its frames' true centres)
    mapping = {}
    for sim_panel in sorted({f.panel for f in lights}):
        frames = [f for f in lights if f.panel == sim_panel]
        index = assign_panels(
            m31, np.array([f.ra for f in frames]), np.array([f.dec for f in frames])
        )
        ((best, _),) = Counter(index.tolist()).most_common(1)
        assert best >= 0
        mapping[sim_panel] = panels[best].name
    assert len(set(mapping.values())) == 6

    progress = target_progress(engine_for(url), targets)
    plan = plan_nights(config, progress, date(2026, 10, 15))
    tasks = {t.panel.name: t for t in plan.nights[0].tasks}
    assert set(tasks) == {mapping[p] for p in SHORT}
    for task in tasks.values():
        assert [e.filter for e in task.exposures] == ["Ha"]
        assert task.exposures[0].seconds >= task.exposures[0].deficit == pytest.approx(300, 1e-3)

    files = write_plan(plan, tmp_path, config, "esl")
    listing = read_scheduler_list(next(p for p in files if p.suffix == ".esl"), strict=True)
    by_name = {p.name: p for p in panels}
    for job in listing.jobs:
        panel = by_name[job.name.split("-", 1)[1]]
        written = SkyCoord(job.ra_hours * 15, job.dec, unit="deg")
        assert written.separation(SkyCoord(panel.ra, panel.dec, unit="deg")).arcsec < 1.0
        # and the catalogue's solved L frames of that panel are centred on it (dithers and
        # go-to errors of a few arcmin, no more)
        sim_panel = next(s for s, mine in mapping.items() if mine == panel.name)
        solved = [f for f in lights if f.panel == sim_panel and f.filter == "L"]
        centre = SkyCoord([f.ra for f in solved], [f.dec for f in solved], unit="deg")
        assert written.separation(centre).arcmin.max() < 15
