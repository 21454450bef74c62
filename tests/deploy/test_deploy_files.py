"""The deployment files are valid and consistent with september (no container engine runs here)."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

from september.cli import cli

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = set(cli.list_commands(None))  # type: ignore[arg-type]


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((ROOT / "deploy" / "systemd" / name).read_text())
    return parser


def _september_command(exec_start: str) -> str:
    words = shlex.split(exec_start)
    assert words[0].endswith("/september"), exec_start
    return words[1]


def test_compose_has_database_watcher_readonly_share_and_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"db", "watcher"}
    db, watcher = services["db"], services["watcher"]
    assert (ROOT / db["build"]["context"] / "Dockerfile").is_file()
    assert (ROOT / watcher["build"]["context"] / watcher["build"]["dockerfile"]).is_file()
    assert any(v.startswith("pgdata:") for v in db["volumes"])
    assert "pgdata" in compose["volumes"]
    share_mounts = [v for v in watcher["volumes"] if re.search(r":/share(:|$)", v)]
    assert share_mounts and all(v.endswith(":ro") for v in share_mounts)
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert watcher["healthcheck"]["test"][1:3] == ["september", "status"]
    assert watcher["depends_on"]["db"]["condition"] == "service_healthy"
    assert watcher["command"][0] in COMMANDS
    assert watcher["environment"]["SEPTEMBER_DATABASE_URL"].startswith("postgresql://")


def test_postgres_image_installs_q3c_and_creates_the_extension() -> None:
    dockerfile = (ROOT / "deploy/postgres/Dockerfile").read_text()
    assert "postgresql-15-q3c" in dockerfile
    init = (ROOT / "deploy/postgres/initdb-q3c.sql").read_text()
    assert "CREATE EXTENSION IF NOT EXISTS q3c" in init
    watcher = (ROOT / "deploy/september.Dockerfile").read_text()
    assert "astrometry-data-tycho2-10-19" in watcher


def test_systemd_units_run_existing_commands() -> None:
    watch = _unit("september-watch.service")
    nightly = _unit("september-nightly.service")
    assert _september_command(watch["Service"]["ExecStart"]) == "watch"
    assert _september_command(nightly["Service"]["ExecStart"]) == "nightly"
    assert {"watch", "nightly", "status"} <= COMMANDS
    assert watch["Service"]["KillSignal"] == "SIGTERM"
    assert nightly["Service"]["Type"] == "oneshot"


def test_timer_fires_at_six_and_catches_up() -> None:
    timer = _unit("september-nightly.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 06:00:00"
    assert timer["Persistent"] == "true"


def test_cron_line_runs_nightly_at_six() -> None:
    lines = [
        line
        for line in (ROOT / "deploy/cron/september").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert len(lines) == 1
    minute, hour, dom, month, dow, user, *command = lines[0].split()
    assert (minute, hour, dom, month, dow) == ("0", "6", "*", "*", "*")
    assert re.fullmatch(r"[a-z_][a-z0-9_-]*", user)
    assert command[0].endswith("/september") and command[1] == "nightly"
