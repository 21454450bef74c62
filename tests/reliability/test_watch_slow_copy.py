"""A frame copied slowly into the watched share (in chunks, with a stall longer than the settle
time) is ingested once, complete, by a running `september watch`; its heartbeat and
`september status` show it."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    Catalogue,
    run_september,
    september_env,
    sha256,
    start_september,
    tiny_fits_bytes,
    wait_for,
)

pytestmark = pytest.mark.db

WATCH = ["--settle", "1", "--interval", "0.5", "--observer", "polling", "-j", "1"]


def _heartbeat(data_dir: Path) -> dict:
    try:
        return json.loads((data_dir / "state" / "watch.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def test_slow_copy_is_ingested_once_complete(
    tmp_path: Path, database_url: str, catalogue: Catalogue
):
    share = tmp_path / "share"
    share.mkdir()
    env = september_env(database_url, tmp_path)
    data_dir = tmp_path / "data"
    log = tmp_path / "watch.log"
    watcher = start_september(["watch", str(share), *WATCH], env, log)
    try:
        wait_for(lambda: _heartbeat(data_dir).get("state") == "running", 60, "the watcher")
        content = tiny_fits_bytes(7, size=256)  # 131 kB: 46 FITS blocks
        target = share / "2026-11-21" / "Bias_slow_0001.fits"
        target.parent.mkdir()
        chunk = len(content) // 8
        with target.open("wb") as handle:
            for start in range(0, len(content), chunk):
                handle.write(content[start : start + chunk])
                handle.flush()
                # a stall longer than --settle half-way: only the FITS length check holds it back
                time.sleep(3.0 if start == 4 * chunk else 0.6)
                assert catalogue.frame_count() == 0, "catalogued before the copy finished"
                assert catalogue.failures() == {}, "a half-copied file was recorded as failed"
        wait_for(lambda: catalogue.frame_count() == 1, 60, "the frame to be catalogued")
        wait_for(
            lambda: _heartbeat(data_dir).get("last_ingested_path") == str(target),
            30,
            "the heartbeat to report the frame",
        )
        status = run_september(["status", "--json"], env)
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["daemon_alive"] is True
        assert shown["last_ingested"] == str(target)
        assert shown["errors_24h"] == {}
        time.sleep(2.0)  # a few more polls: the finished file must not be ingested again
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(60)
    assert code == 0, log.read_text()
    row = catalogue.frames()[str(target)]
    assert (row.sha256, row.size) == (sha256(target), len(content))
    assert catalogue.frame_count() == 1 and catalogue.failures() == {}
    beat = _heartbeat(data_dir)
    assert beat["state"] == "stopped"
    assert beat["counts"] == {"ingested": 1}, beat
    check = run_september(["status", "--check"], env)
    assert check.returncode == 1  # the daemon has stopped: the health check says so
