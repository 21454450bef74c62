"""A `september ingest` killed with SIGKILL in the middle of a run leaves nothing half-done:
the next run catalogues every frame exactly once, with complete rows and no stale failures."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    Catalogue,
    assert_catalogued_exactly_once,
    run_september,
    september_env,
    start_september,
    wait_for,
    write_tiny_frames,
)

pytestmark = [pytest.mark.db, pytest.mark.slow]

FRAMES = 160


def test_kill_9_mid_batch_then_rerun(tmp_path: Path, database_url: str, catalogue: Catalogue):
    share = tmp_path / "share"
    paths = []
    for night in range(4):
        paths += write_tiny_frames(share / f"2026-11-2{night}", FRAMES // 4, start=night * 1000)
    env = september_env(database_url, tmp_path)
    log = tmp_path / "first-run.log"
    first = start_september(["ingest", str(share), "-j", "2", "--no-progress"], env, log)
    try:
        wait_for(lambda: catalogue.frame_count() >= 30 or first.poll() is not None, 120, "rows")
    finally:
        with contextlib.suppress(ProcessLookupError):  # the ingester and its workers, at once
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    done_when_killed = catalogue.frame_count()
    assert first.returncode == -signal.SIGKILL, log.read_text()
    assert 0 < done_when_killed < FRAMES, "the kill must land in the middle of the run"

    # The server notices the dead connections: no transaction or advisory lock survives them.
    others = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    wait_for(lambda: catalogue.scalar(others) == 0, 30, "the killed sessions to end")
    assert catalogue.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0

    second = run_september(["ingest", str(share), "-j", "2", "--no-progress"], env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    redone = int(re.search(r"ingested\D+(\d+)", second.stdout).group(1))
    assert redone == FRAMES - done_when_killed  # exactly the frames the kill left without a row
    assert_catalogued_exactly_once(catalogue, paths)
    assert catalogue.failures() == {}  # no orphaned work: nothing recorded as failed
