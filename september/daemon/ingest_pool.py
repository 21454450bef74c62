"""A long-lived pool of ingest workers, so the daemon does not start processes per batch."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path

from september.services.ingest import IngestOptions, ingest_file


class IngestPool:
    """Callable as the watcher's ``ingest_batch``: ingests paths, returns counts by outcome."""

    def __init__(self, options: IngestOptions, workers: int) -> None:
        self.options = options
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self, batch: list[Path]) -> dict[str, int]:
        paths = [str(p) for p in batch]
        if self.workers == 1 or len(paths) == 1:
            outcomes = [ingest_file(p, self.options) for p in paths]
        else:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=get_context("spawn")
                )
            outcomes = list(self._pool.map(ingest_file, paths, repeat(self.options)))
        return dict(Counter(outcome.status for outcome in outcomes))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
