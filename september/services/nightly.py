"""The nightly job: ingest what arrived since the last run, grade, cluster, and summarise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from september.catalogue import night
from september.catalogue.database import connect_engine, database_url
from september.catalogue.migrate import upgrade
from september.config import Config
from september.services.cluster import update_clusters
from september.services.ingest import IngestSummary, ingest


@dataclass(frozen=True)
class NightlyResult:
    text: str
    summary_path: Path
    failed: int


def _state_path(config: Config) -> Path:
    return config.paths.data_dir / "state" / "nightly.json"


def last_run(config: Config) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(_state_path(config).read_text())["last_run"])
    except (OSError, KeyError, ValueError):
        return None


def _remember_run(config: Config, moment: datetime) -> None:
    path = _state_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"last_run": moment.isoformat()}))


def run_nightly(
    config: Config, share: Path, *, workers: int | None = None, progress: bool = False
) -> NightlyResult:
    started = datetime.now(UTC)
    previous = last_run(config)
    upgrade(database_url(config))
    summary = ingest([share], config, workers=workers, progress=progress)
    engine = connect_engine(config)
    graded = _grade(config)
    clusters = update_clusters(engine, config.cluster)
    with engine.connect() as connection:
        rows = night.arrivals(connection, previous)
        failures = night.failures_since(connection, previous)
    text = _summary_text(started, previous, summary, rows, failures, graded, clusters.created)
    reports = config.paths.data_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / f"nightly-{started:%Y-%m-%d}.md"
    path.write_text(text)
    _remember_run(config, started)
    return NightlyResult(text=text, summary_path=path, failed=summary.failed)


def _grade(config: Config) -> str:
    """Grade the new frames; returns a one-line account for the summary."""
    from september.services import grade

    return grade.grade_for_nightly(config)


def _summary_text(
    started: datetime,
    previous: datetime | None,
    summary: IngestSummary,
    rows: list[night.ArrivalRow],
    failures: dict[str, int],
    graded: str,
    new_clusters: list[str],
) -> str:
    since = previous.strftime("%Y-%m-%d %H:%M UTC") if previous else "the beginning"
    lines = [
        f"# september night summary, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"New since {since}: {summary.statuses['ingested']} frames catalogued, "
        f"{summary.solved} lights solved, {summary.failed} files failed.",
        f"Grading: {graded}",
    ]
    if new_clusters:
        lines.append(f"New clusters: {', '.join(new_clusters)}")
    lights = [r for r in rows if r.frame_type == "light"]
    if lights:
        lines += [
            "",
            "| object | filter | frames | minutes | solved | accepted | rejected |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r.object or '-'} | {r.filter or '-'} | {r.frames} | {r.seconds / 60:.0f} | "
            f"{r.solved} | {r.accepted} | {r.rejected} |"
            for r in lights
        ]
    calibration = [r for r in rows if r.frame_type != "light"]
    if calibration:
        counts: dict[str, int] = {}
        for r in calibration:
            counts[r.frame_type] = counts.get(r.frame_type, 0) + r.frames
        lines += ["", "Calibration: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))]
    if failures:
        lines += [
            "",
            "Files that could not be catalogued: "
            + ", ".join(f"{n} {r}" for r, n in sorted(failures.items())),
        ]
    return "\n".join(lines) + "\n"
