"""The watch daemon: follow the capture share and ingest each frame once, when it is complete.

A capture computer writes frames over NFS/SMB, where inotify never hears about writes made by
other machines; on network file systems september therefore polls (watchdog's PollingObserver) and
uses inotify only on local disks. Either way an event only makes a file a *candidate*: it is
ingested once its size and mtime have stayed the same for ``settle`` seconds and, for FITS, the
data is as long as its header says. Work is handed over in small batches through a bounded
queue, so a burst of thousands of files never grows the daemon's memory.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from september.image.frames import fits_data_complete, is_frame_path
from september.services.status import WatchStatus

log = logging.getLogger("september.watch")

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "davfs",
        "fuse.sshfs",
        "fuse.glusterfs",
        "fuse.rclone",
        "virtiofs",
    }
)
FITS_ENDINGS = (".fit", ".fits", ".fts")

BatchIngest = Callable[[list[Path]], dict[str, int]]
"""Ingests a batch of complete files; returns counts by outcome (e.g. {"ingested": 3})."""


def filesystem_type(path: str | os.PathLike[str], mounts: str = "/proc/self/mounts") -> str:
    """The type of the file system holding ``path`` (longest matching mount point wins)."""
    target = os.path.realpath(path)
    best, best_type = "", "unknown"
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return best_type
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, parts[2]
    return best_type


def choose_observer(path: Path, mode: str, interval: float) -> tuple[BaseObserver, str]:
    """A watchdog observer for ``path``: polling on network file systems (or when asked)."""
    if mode not in {"auto", "polling", "inotify"}:
        raise ValueError(f"observer mode {mode!r}: expected auto, polling or inotify")
    fstype = filesystem_type(path)
    polling = mode == "polling" or (mode == "auto" and fstype in NETWORK_FILESYSTEMS)
    if polling:
        return PollingObserver(timeout=interval), f"polling every {interval:g} s ({fstype})"
    return Observer(), f"native events ({fstype})"


@dataclass
class _Candidate:
    size: int
    mtime_ns: int
    stable_since: float


class StabilityTracker:
    """Remembers candidate files and releases them once they have stopped changing."""

    def __init__(self, settle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = settle
        self._clock = clock
        self._candidates: dict[Path, _Candidate | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._candidates)

    def touch(self, path: Path) -> None:
        """Note that ``path`` appeared or changed."""
        if is_frame_path(path):
            with self._lock:
                self._candidates[path] = None

    def release(self, limit: int) -> list[Path]:
        """Up to ``limit`` candidates that are complete; changed ones start their wait again."""
        now = self._clock()
        ready: list[Path] = []
        with self._lock:
            paths = list(self._candidates)
        for path in paths:
            if len(ready) >= limit:
                break
            state = self._check(path, now)
            if state == "ready":
                ready.append(path)
        with self._lock:
            for path in ready:
                self._candidates.pop(path, None)
        return ready

    def _check(self, path: Path, now: float) -> str:
        try:
            stat = path.stat()
        except OSError:
            with self._lock:
                self._candidates.pop(path, None)  # gone (renamed or deleted by the writer)
            return "gone"
        with self._lock:
            seen = self._candidates.get(path)
            if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                self._candidates[path] = _Candidate(stat.st_size, stat.st_mtime_ns, now)
                return "changing"
        if now - seen.stable_since < self.settle or stat.st_size == 0:
            return "settling"
        if path.name.lower().endswith(FITS_ENDINGS) and not fits_data_complete(path):
            return "settling"  # still being copied: header promises more data than is there
        return "ready"


class _Handler(FileSystemEventHandler):
    def __init__(self, tracker: StabilityTracker) -> None:
        self.tracker = tracker

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for attribute in ("dest_path", "src_path"):
            value = getattr(event, attribute, "")
            if value:
                self.tracker.touch(Path(os.fsdecode(value)))


@dataclass(frozen=True)
class WatchOptions:
    settle: float = 5.0  # seconds a file's size and mtime must stay the same
    poll_interval: float = 10.0  # seconds between scans of a network share
    observer: str = "auto"  # auto | polling | inotify
    queue_size: int = 64  # complete files waiting for ingest, at most
    batch_size: int = 16  # files handed to one ingest call
    tick: float = 0.5  # seconds between checks of the candidates
    heartbeat: float = 5.0  # seconds between status writes
    max_backoff: float = 300.0  # seconds: longest wait after failed batches (database down...)


class Watcher:
    """Follows ``share`` and feeds complete frames to ``ingest_batch`` until stopped."""

    def __init__(
        self, share: Path, ingest_batch: BatchIngest, status_path: Path, options: WatchOptions
    ) -> None:
        self.share = Path(os.path.abspath(share))  # catalogued paths are absolute
        self.ingest_batch = ingest_batch
        self.status_path = status_path
        self.options = options
        self.tracker = StabilityTracker(options.settle)
        self.queue: deque[Path] = deque()
        self.stop_event = threading.Event()
        self._wake = threading.Event()  # set when a batch ends, so the next one starts at once
        self._busy = False  # a batch is being ingested
        self._worker: threading.Thread | None = None
        self._batch: list[Path] = []
        self._backoff = 0.0  # seconds to wait before the next batch; doubles on each failure
        self._not_before = 0.0  # monotonic time before which no batch starts
        self.status = WatchStatus(share=str(share), observer="")

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the daemon after the batch in hand."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def stop(self) -> None:
        """Ask the daemon to stop after the batch in hand (safe from any thread)."""
        self.stop_event.set()
        self._wake.set()

    def catch_up(self) -> int:
        """Make every frame already on the share a candidate (ingest skips known ones cheaply)."""
        count = 0
        for path in _walk(self.share):
            self.tracker.touch(path)
            count += 1
        return count

    def run(self) -> WatchStatus:
        """Run until ``stop_event`` is set; returns the final status."""
        if not self.share.is_dir():
            raise FileNotFoundError(f"the share {self.share} is not a folder")
        observer, description = choose_observer(
            self.share, self.options.observer, self.options.poll_interval
        )
        self.status.observer = description
        observer.schedule(_Handler(self.tracker), str(self.share), recursive=True)
        observer.start()  # start before the catch-up scan, so nothing slips between the two
        log.info(json.dumps({"event": "start", "share": str(self.share), "observer": description}))
        found = self.catch_up()
        log.info(json.dumps({"event": "catch-up", "files": found}))
        self.status.state = "running"
        last_beat = 0.0
        try:
            while not self.stop_event.is_set():
                self._step()
                if time.monotonic() - last_beat >= self.options.heartbeat:
                    self._beat()
                    last_beat = time.monotonic()
                self._wake.wait(self.options.tick)
                self._wake.clear()
        finally:
            observer.stop()
            self.status.state = "stopping"
            self._beat()
            if self._worker is not None:
                self._worker.join()  # finish the batch in hand; the queue waits for next start
            observer.join(timeout=10)
            self.status.state = "stopped"
            self._beat()
            log.info(json.dumps({"event": "stop", "counts": self.status.counts}))
        return self.status

    def _step(self) -> None:
        room = self.options.queue_size - len(self.queue)
        if room > 0:
            self.queue.extend(self.tracker.release(room))
        if self.queue and not self._busy and time.monotonic() >= self._not_before:
            size = min(self.options.batch_size, len(self.queue))
            self._batch = [self.queue.popleft() for _ in range(size)]
            self._busy = True
            self._worker = threading.Thread(target=self._ingest, args=(self._batch,), daemon=True)
            self._worker.start()

    def _ingest(self, batch: list[Path]) -> None:
        try:
            self._ingest_batch(batch)
        finally:
            self._busy = False
            self._wake.set()

    def _ingest_batch(self, batch: list[Path]) -> None:
        try:
            counts = self.ingest_batch(batch)
        except Exception as err:  # the daemon must outlive any one batch; the error is logged
            self._backoff = min(self.options.max_backoff, max(1.0, self._backoff * 2))
            self._not_before = time.monotonic() + self._backoff
            log.error(
                json.dumps(
                    {
                        "event": "batch-failed",
                        "files": len(batch),
                        "error": str(err),
                        "retry_in_s": self._backoff,
                    }
                )
            )
            self.queue.extendleft(reversed(batch))  # try again after the backoff
            self.status.counts["batch_errors"] = self.status.counts.get("batch_errors", 0) + 1
            return
        self._backoff = 0.0
        for key, value in counts.items():
            self.status.counts[key] = self.status.counts.get(key, 0) + value
        self.status.last_ingested_path = str(batch[-1])
        self.status.last_ingested_at = datetime.now(UTC).isoformat()
        log.info(json.dumps({"event": "batch", "files": len(batch), "counts": counts}))

    def _beat(self) -> None:
        alive = self._worker is not None and self._worker.is_alive()
        self.status.candidates = len(self.tracker)
        self.status.queue_length = len(self.queue)
        self.status.in_flight = len(self._batch) if alive else 0
        self.status.write(self.status_path)


def _walk(root: Path) -> Iterable[Path]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in files:
            path = Path(directory) / name
            if is_frame_path(path):
                yield path
