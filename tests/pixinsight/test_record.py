"""A PixInsight run recorded in the catalogue: frames integrated (linked to catalogued frames by
SHA-256), masters and images produced, failures kept with their reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from september.catalogue.database import engine_for
from september.catalogue.models import Subframe
from september.catalogue.processing import (
    ProcessingFrame,
    ProcessingProduct,
    ProcessingRun,
    integrated_subframes,
)
from september.cli import cli

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.db


@pytest.fixture
def fake_pixinsight(tmp_path: Path) -> Path:
    node = shutil.which("node")
    assert node, "Node.js is missing: deploy/install.sh installs it"
    script = REPO / "pixinsight" / "test" / "fake-pixinsight.js"
    path = tmp_path / "PixInsight.sh"
    path.write_text(f'#!/bin/sh\nexec {node} {script} "$@"\n')
    path.chmod(0o755)
    return path


def _catalogue(url: str, frames: list[dict[str, Any]]) -> dict[str, int]:
    """Catalogue some frames as ingest would (identity columns only); sha256 -> id."""
    with engine_for(url).begin() as connection:
        for number, frame in enumerate(frames):
            connection.execute(
                sa.insert(Subframe).values(
                    path=frame["original_path"],
                    size=1000 + number,
                    mtime=0.0,
                    sha256=frame["sha256"],
                    frame_type="light",
                    filter=frame["filter"],
                    width=frame["width"],
                    height=frame["height"],
                    solve_status="skipped",
                )
            )
        rows = connection.execute(sa.select(Subframe.sha256, Subframe.id)).all()
    return dict(rows)


def test_a_run_is_recorded_with_its_frames_and_products(
    pixinsight_packages: tuple[Path, list[Any]],
    fake_pixinsight: Path,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    package = Path(next(p["path"] for p in pixinsight_packages[1] if p["scenario"] == "crab"))
    manifest = json.loads((package / "september.json").read_text())
    lights = [f for f in manifest["frames"] if f["frame_type"] == "light"]
    catalogued = _catalogue(database_url, lights[:6])  # the others are not catalogued
    monkeypatch.setenv("SEPTEMBER_DATABASE_URL", database_url)
    args = ["pixinsight", "run", str(package), "--executable", str(fake_pixinsight)]
    result = CliRunner().invoke(cli, [*args, "--output", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "recorded as processing run" in result.output
    assert "L: 5 frames (PercentileClip)" in result.output

    with engine_for(database_url).connect() as connection:
        run = connection.execute(sa.select(ProcessingRun)).one()
        assert run.status == "success" and run.cluster == "crab-P1"
        frames = connection.execute(
            sa.select(ProcessingFrame).where(ProcessingFrame.run_id == run.id)
        ).all()
        assert sorted(f.package_path for f in frames) == sorted(f["path"] for f in lights)
        assert all(f.integrated and f.status == "ok" for f in frames)
        assert integrated_subframes(connection, run.id) == sorted(catalogued.values())
        products = connection.execute(
            sa.select(ProcessingProduct).where(ProcessingProduct.run_id == run.id)
        ).all()
    kinds = sorted(p.kind for p in products)
    # crab, one night: one bias, one dark, three dark-flat and four flat sets; L, R, G, B; LRGB
    assert kinds.count("master-bias") == 1 and kinds.count("master-dark") == 1
    assert kinds.count("master-flat") == 4
    assert kinds.count("integration") == 4 and kinds.count("combination") == 1
    flats = {p.filter: p for p in products if p.kind == "master-flat"}
    for light in lights:
        assert sorted(light["calibration"]["flat"]) == sorted(flats[light["filter"]].frames)

    # a failed run is recorded too, and the command fails
    monkeypatch.setenv("FAKE_PIXINSIGHT_FAIL", "ImageIntegration")
    failed = CliRunner().invoke(cli, [*args, "--output", str(tmp_path / "failed")])
    assert failed.exit_code == 2
    assert "ImageIntegration" in failed.output
    with engine_for(database_url).connect() as connection:
        statuses = connection.execute(
            sa.select(ProcessingRun.status, ProcessingRun.error).order_by(ProcessingRun.id)
        ).all()
        assert [s.status for s in statuses] == ["success", "failed"]
        assert "ImageIntegration" in statuses[1].error
        assert integrated_subframes(connection, run.id + 1) == []
