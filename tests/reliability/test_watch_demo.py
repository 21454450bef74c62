"""The demo's watch step: frames the simulator drops into the share while the daemon runs are
catalogued by it, and the daemon stops cleanly afterwards."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from september.config import Config
from september.demo.watch import watch_demo
from september.services.status import read_status, watch_status_path
from tests.reliability.conftest import Catalogue

pytestmark = [pytest.mark.db, pytest.mark.solve]


def test_watch_demo_catalogues_arriving_frames(
    tmp_path: Path, database_url: str, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
):
    config = Config()
    config = replace(
        config,
        database=replace(config.database, url=database_url),
        paths=replace(config.paths, data_dir=tmp_path / "data"),
    )
    monkeypatch.chdir(tmp_path)
    share = Path("share")  # relative, as `september demo --workdir` allows
    share.mkdir()
    catalogued = watch_demo(config, share, seed=3, frames=1)
    arrived = [p for p in (tmp_path / "share").rglob("*.fits")]
    assert catalogued == len(arrived) == catalogue.frame_count() >= 2
    assert set(catalogue.frames()) == {os.path.abspath(p) for p in arrived}
    status = read_status(watch_status_path(config))
    assert status is not None and status["state"] == "stopped"
    assert status["counts"].get("ingested") == len(arrived)
