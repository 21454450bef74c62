"""The health of september: the watch daemon's heartbeat and the catalogue's recent figures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from september.catalogue.database import connect_engine
from september.catalogue.health import CatalogueHealth, catalogue_health
from september.config import Config

STALE_AFTER = 60.0  # seconds without a heartbeat before the daemon counts as not running


@dataclass
class WatchStatus:
    """What the daemon reports in its heartbeat file (read by ``september status``)."""

    share: str
    observer: str
    pid: int = field(default_factory=os.getpid)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    heartbeat: str = ""
    state: str = "starting"
    candidates: int = 0
    queue_length: int = 0
    in_flight: int = 0
    last_ingested_path: str | None = None
    last_ingested_at: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        self.heartbeat = datetime.now(UTC).isoformat()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=2))
        temporary.replace(path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The daemon's last heartbeat, or None when it never ran."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def watch_status_path(config: Config) -> Path:
    """Where the watch daemon writes its heartbeat."""
    return config.paths.data_dir / "state" / "watch.json"


@dataclass(frozen=True)
class Status:
    daemon: dict[str, Any] | None
    heartbeat_age: float | None  # seconds since the last heartbeat
    catalogue: CatalogueHealth

    @property
    def daemon_alive(self) -> bool:
        return (
            self.daemon is not None
            and self.daemon.get("state") == "running"
            and self.heartbeat_age is not None
            and self.heartbeat_age <= STALE_AFTER
        )


def current_status(config: Config) -> Status:
    daemon = read_status(watch_status_path(config))
    age = None
    if daemon and daemon.get("heartbeat"):
        beat = datetime.fromisoformat(daemon["heartbeat"])
        age = (datetime.now(UTC) - beat).total_seconds()
    with connect_engine(config).connect() as connection:
        health = catalogue_health(connection)
    return Status(daemon=daemon, heartbeat_age=age, catalogue=health)
