"""``september targets`` and ``september plan`` through the click runner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from september.cli import cli
from september.ekos.scheduler import read_scheduler_list
from tests.planning.test_plan import TARGETS, _fill


@pytest.fixture
def files(tmp_path: Path, database_url: str) -> tuple[Path, Path]:
    config = tmp_path / "september.toml"
    config.write_text(
        f'[database]\nurl = "{database_url}"\n'
        "[site]\nlatitude = 51.5\nlongitude = -0.1\n"
        f'[plan]\ncapture_dir = "{tmp_path / "captures"}"\nprofile = "Observatory"\n'
    )
    targets = tmp_path / "targets.toml"
    targets.write_text(TARGETS)
    return config, targets


def test_targets_check_lists_panels_and_reports_errors(tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text(TARGETS)
    result = CliRunner().invoke(cli, ["targets", "check", str(targets)])
    assert result.exit_code == 0, result.output
    assert "r2c3" in result.output and "targets file is valid" in result.output
    targets.write_text(TARGETS.replace("priority = 2", "priority = 2\nexposur = 5"))
    result = CliRunner().invoke(cli, ["targets", "check", str(targets)])
    assert result.exit_code == 2
    assert "target 2 ('M45'), key 'exposur': unknown key" in result.output


@pytest.mark.db
def test_targets_show_and_plan(files: tuple[Path, Path], database_url: str, tmp_path: Path):
    config, targets = files
    _fill(database_url)
    runner = CliRunner(env={"COLUMNS": "200"})
    shown = runner.invoke(cli, ["--config", str(config), "targets", "show", str(targets)])
    assert shown.exit_code == 0, shown.output
    assert "transparency x4" in shown.output and "M45: 100% complete" in shown.output

    out = tmp_path / "plans"
    base = ["--config", str(config), "plan", "--targets", str(targets), "--out", str(out)]
    planned = runner.invoke(cli, [*base, "--date", "2026-10-15"])
    assert planned.exit_code == 0, planned.output
    assert "skipped Carina" in planned.output and "loadScheduler" in planned.output
    esl = out / "2026-10-15" / "september-2026-10-15.esl"
    listing = read_scheduler_list(esl, strict=True)
    assert listing.profile == "Observatory"
    assert [job.name for job in listing.jobs] == ["M31-r1c1", "M31-r2c3"]

    as_csv = runner.invoke(cli, [*base, "--date", "2026-10-15", "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    with (out / "2026-10-15" / "september-2026-10-15.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["panel"], r["filter"]) for r in rows} == {("r1c1", "Ha"), ("r2c3", "Ha")}

    two_nights = ["--date", "2026-10-15", "--format", "json", "--nights", "2"]
    as_json = runner.invoke(cli, [*base, *two_nights])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads((out / "2026-10-16" / "september-2026-10-16.json").read_text())
    assert document["tasks"] == []  # night 1 already covers the whole deficit
    assert any(s["panel"] == "Carina" for s in document["skipped"])
