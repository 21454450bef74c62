"""Session fixtures for grading: simulated nights, ingested once into one database each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from september.config import Config, DatabaseConfig


@dataclass(frozen=True)
class GradedNight:
    """A simulated scenario, ingested and graded: where it is and its truth."""

    root: Path
    config: Config
    url: str
    frames: list  # september.sim FrameTruth, paths relative to root


def _database(admin_url: str, template: str) -> str:
    name = f"september_grading_{uuid.uuid4().hex[:10]}"
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _ingest_and_grade(
    tmp_path_factory: pytest.TempPathFactory,
    admin_url: str,
    template: str,
    scenarios: dict[str, dict[str, object]],
) -> GradedNight:
    from september.catalogue.database import engine_for
    from september.services.grade import grade
    from september.services.ingest import ingest
    from september.sim import read_truth, simulate

    root = tmp_path_factory.mktemp("grading")
    frames = []
    for scenario, options in scenarios.items():
        simulate(scenario, root / scenario, scale="small", filters=("L",), nights=1, **options)
        truth = read_truth(root / scenario)
        for frame in truth.frames:
            frame.path = f"{scenario}/{frame.path}"
        frames.extend(truth.frames)
    url = _database(admin_url, template)
    config = Config(database=DatabaseConfig(url=url))
    ingest([root], config, workers=2, progress=False)
    grade(config, engine_for(url))
    return GradedNight(root=root, config=config, url=url, frames=frames)


@pytest.fixture(scope="session")
def m1_nights(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str, template_database: str
) -> GradedNight:
    """Two small nights of M1 in L with the same rig, ingested into one catalogue and graded:
    a clear 'crab' night (seed 9, 14 frames: two trailed, one off target) and a 'cloudy-night'
    (seed 11, 18 frames: 12 under cloud with transparency 0.23..0.65, one at 0.85, one off
    target). The clear night gives the reference the cloudy one is measured against."""
    return _ingest_and_grade(
        tmp_path_factory,
        postgres_admin_url,
        template_database,
        {"crab": {"seed": 9, "frames": 14}, "cloudy-night": {"seed": 11, "frames": 18}},
    )


@pytest.fixture
def graded_copy(m1_nights: GradedNight, postgres_admin_url: str) -> GradedNight:
    """A throw-away copy of the graded database (for tests that change grades)."""
    from september.catalogue.database import engine_for

    engine_for(m1_nights.url).dispose()
    template = make_url(m1_nights.url).database
    url = _database(postgres_admin_url, str(template))
    return GradedNight(
        root=m1_nights.root,
        config=Config(database=DatabaseConfig(url=url)),
        url=url,
        frames=m1_nights.frames,
    )
