"""PostgreSQL stopped and started again in the middle of `september ingest`: the run waits,
retries with growing pauses, and finishes with every frame catalogued exactly once."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from september.catalogue import migrate
from september.catalogue.database import engine_for
from september.catalogue.server import PrivateServer
from september.errors import DatabaseError
from september.services.ingest import IngestOptions, ingest_file
from tests.conftest import _worker_number
from tests.reliability.conftest import (
    Catalogue,
    assert_catalogued_exactly_once,
    september_env,
    start_september,
    wait_for,
    write_tiny_frames,
)

pytestmark = pytest.mark.db

FRAMES = 300
DOWNTIME = 4.0  # seconds the database stays down


@pytest.fixture
def own_server() -> Iterator[PrivateServer]:
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    root = Path(tempfile.mkdtemp(prefix="september-restart-pg-"))
    root.chmod(0o755)  # the postgres user must enter it when the tests run as root
    server = PrivateServer(root / "cluster", port=56432 + _worker_number(), fast_unsafe=True)
    server.ensure_running()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_ingest_survives_a_database_restart(tmp_path: Path, own_server: PrivateServer):
    url = own_server.url()
    migrate.upgrade(url)
    catalogue = Catalogue(url)
    share = tmp_path / "share"
    paths = write_tiny_frames(share, FRAMES)
    log = tmp_path / "ingest.log"
    run = start_september(
        ["ingest", str(share), "-j", "2", "--no-progress"], september_env(url, tmp_path), log
    )
    try:
        wait_for(lambda: catalogue.frame_count() >= 10 or run.poll() is not None, 120, "rows")
        engine_for(url).dispose()  # the test's own connections must not keep the server up
        own_server.stop()
        stopped_at = time.monotonic()
        assert run.poll() is None, "the run finished before the database went down"

        # While it is down, a file with a short retry budget gives up with a clear error.
        options = IngestOptions(database_url=url, db_retry_seconds=1.0)
        with pytest.raises(DatabaseError, match="did not come back within 1 s"):
            ingest_file(str(paths[-1]), options)

        time.sleep(max(0.0, DOWNTIME - (time.monotonic() - stopped_at)))
        assert run.poll() is None, log.read_text()  # still waiting for the database
        own_server.start()
        assert run.wait(180) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
    text = log.read_text()
    waits = [float(w) for w in re.findall(r"retry \d+ in ([\d.]+) s", text)]
    assert waits, text
    assert max(waits) >= 2.0, f"no backoff: waits were {sorted(set(waits))}"
    assert "Error" not in text
    assert_catalogued_exactly_once(catalogue, paths)
    assert catalogue.failures() == {}
    engine_for(url).dispose()
