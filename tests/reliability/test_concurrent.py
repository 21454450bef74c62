"""Two ingesters over the same share at the same time (two `september ingest` runs; the watch
daemon and `september nightly`): both finish cleanly (no deadlock, no error) and every frame is
catalogued once, including two copies of one frame."""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    Catalogue,
    assert_catalogued_exactly_once,
    run_september,
    september_env,
    sha256,
    start_september,
    wait_for,
    write_tiny_frames,
)

pytestmark = pytest.mark.db

FRAMES = 100


def test_two_ingesters_at_once(tmp_path: Path, database_url: str, catalogue: Catalogue):
    share = tmp_path / "share"
    paths = write_tiny_frames(share / "night", FRAMES)
    copy = share / "night-copy" / paths[0].name  # the same content under a second path
    copy.parent.mkdir()
    shutil.copy2(paths[0], copy)
    env = september_env(database_url, tmp_path)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    runs = [
        start_september(["ingest", str(share), "-j", "2", "--no-progress"], env, log)
        for log in logs
    ]
    codes = [run.wait(300) for run in runs]
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], texts
    assert not any("deadlock" in text.lower() or "Error" in text for text in texts), texts
    inserted = [int(re.search(r"ingested\D+(\d+)", text).group(1)) for text in texts]
    assert sum(inserted) == FRAMES, inserted  # each content inserted by exactly one of them

    # The first copy's content has exactly one row, at one of its two paths.
    content = sha256(paths[0])
    rows = catalogue.rows("SELECT path FROM subframes WHERE sha256 = :sha", sha=content)
    assert len(rows) == 1 and rows[0].path in {str(paths[0]), str(copy)}
    assert catalogue.frame_count() == FRAMES
    unique = catalogue.scalar("SELECT count(DISTINCT path) + count(DISTINCT sha256) FROM subframes")
    assert unique == 2 * FRAMES

    # A later run settles the copy: recorded as a duplicate, the original keeps its row.
    again = run_september(["ingest", str(share), "--no-progress"], env)
    assert again.returncode == 0, again.stdout + again.stderr
    failures = catalogue.failures()
    other = str(copy) if rows[0].path == str(paths[0]) else str(paths[0])
    assert set(failures) == {other} and failures[other].reason == "duplicate"
    catalogued = [str(copy) if p == paths[0] and rows[0].path == str(copy) else p for p in paths]
    assert_catalogued_exactly_once(catalogue, [Path(p) for p in catalogued])


def test_watcher_and_nightly_at_once(tmp_path: Path, database_url: str, catalogue: Catalogue):
    share = tmp_path / "share"
    paths = write_tiny_frames(share / "night", 3 * FRAMES)
    env = september_env(database_url, tmp_path)
    watch_log, nightly_log = tmp_path / "watch.log", tmp_path / "nightly.log"
    watch = ["watch", str(share), "--settle", "0.5", "--interval", "0.5", "--observer", "polling"]
    # Both start at once; the daemon catches up with the share while the nightly job ingests it.
    nightly = start_september(["nightly", str(share), "--no-progress"], env, nightly_log)
    watcher = start_september(watch, env, watch_log)
    try:
        assert nightly.wait(300) == 0, nightly_log.read_text()
        wait_for(lambda: catalogue.frame_count() >= len(paths), 120, "every frame")
        heartbeat = tmp_path / "data" / "state" / "watch.json"
        wait_for(
            lambda: heartbeat.exists() and '"queue_length": 0' in heartbeat.read_text(),
            60,
            "the daemon's queue to empty",
        )
    finally:
        watcher.send_signal(signal.SIGTERM)
        code = watcher.wait(60)
        if nightly.poll() is None:
            nightly.kill()
    text = watch_log.read_text()
    assert code == 0 and "batch-failed" not in text and "deadlock" not in text.lower(), text
    assert_catalogued_exactly_once(catalogue, paths)
    assert catalogue.failures() == {}
    summary = nightly_log.read_text()
    nightly_count = int(re.search(r"(\d+) frames catalogued", summary).group(1))
    watcher_count = json.loads(heartbeat.read_text())["counts"].get("ingested", 0)
    print(f"catalogued by the daemon: {watcher_count}, by the nightly job: {nightly_count}")
    assert nightly_count + watcher_count == len(paths), (nightly_count, watcher_count)
