"""Ingest: walk folders of frames and catalogue each one (hash, header, stars, plate solution).

One file is one unit of work (:func:`ingest_file`), done entirely in one worker process: a cheap
size+mtime check, a streamed SHA-256, a path update when the content is already known, else
reading, star measurement and plate solving, then one transaction that writes the row. The unit is
idempotent and safe to run from several ingesters at once (content identity is the sha256
unique key), so a watch daemon can call it directly. Files that cannot be catalogued are recorded
in ``ingest_failures`` with a reason and skipped until their size or mtime changes.

Each database step of a file is one transaction; when the connection to the database is lost
(PostgreSQL restarting, the server rebooting) the step is retried with exponential backoff for
up to ``db_retry_seconds`` before the run gives up with a :class:`DatabaseError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa

from september.catalogue import frames
from september.catalogue.database import database_url, engine_for
from september.config import Config
from september.errors import DatabaseError, SolveError, ToolMissingError

__all__ = [
    "FileOutcome",
    "IngestOptions",
    "IngestSummary",
    "find_frame_files",
    "ingest",
    "ingest_file",
    "sha256_file",
]

log = logging.getLogger("september.ingest")

HASH_CHUNK = 1 << 20  # bytes read at a time while hashing
STARS_KEPT = 200  # brightest detections stored per frame (x, y, flux, fwhm as float32)
DUPLICATE = "duplicate"  # failure reason of a second copy of already catalogued content
RETRY_FIRST_WAIT = 0.5  # seconds before the first retry after a lost connection; then doubled
RETRY_LONGEST_WAIT = 30.0  # seconds: the longest single wait between retries
CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")  # admin/crash shutdown, cannot connect now

# Outcome statuses of one file.
INGESTED = "ingested"  # new row written
UNCHANGED = "unchanged"  # same path, size and mtime as catalogued (or as a recorded failure)
KNOWN = "known"  # content already catalogued at this path (e.g. only the mtime changed)
MOVED = "moved"  # content already catalogued elsewhere: path updated
FAILED = "failed"  # recorded in ingest_failures


@dataclass(frozen=True)
class IngestOptions:
    """What a worker needs (picklable): where to write and how to solve."""

    database_url: str
    cpulimit: float = 30.0  # CPU seconds per solve
    index_dir: str | None = None
    max_stars: int = 300  # brightest detections handed to solve-field
    db_retry_seconds: float = 300.0  # total wait for a lost database before giving up

    @classmethod
    def from_config(cls, config: Config) -> IngestOptions:
        return cls(
            database_url=database_url(config),
            cpulimit=config.ingest.solve_cpulimit,
            index_dir=str(config.paths.index_dir) if config.paths.index_dir else None,
            max_stars=config.ingest.max_stars_for_solve,
            db_retry_seconds=config.ingest.db_retry_seconds,
        )


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file."""

    path: str
    status: str  # INGESTED, UNCHANGED, KNOWN, MOVED, FAILED or DUPLICATE
    reason: str | None = None  # failure reason code
    message: str | None = None
    frame_type: str | None = None
    solve_status: str | None = None  # 'solved'|'failed'|'skipped' for new rows
    solve_reason: str | None = None
    seconds: float = 0.0  # wall time spent on the file


@dataclass
class IngestSummary:
    """Counts over a run, plus every outcome that was not a cheap skip."""

    found: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # reason -> files
    solved: int = 0
    unsolved: Counter[str] = field(default_factory=Counter)  # reason -> lights
    outcomes: list[FileOutcome] = field(default_factory=list)

    def add(self, outcome: FileOutcome) -> None:
        self.statuses[outcome.status] += 1
        if outcome.status == UNCHANGED:
            return
        self.outcomes.append(outcome)
        if outcome.status == FAILED:
            self.failures[outcome.reason or "error"] += 1
        if outcome.status == INGESTED and outcome.frame_type == "light":
            if outcome.solve_status == "solved":
                self.solved += 1
            else:
                self.unsolved[outcome.solve_reason or "unsolved"] += 1

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def rows(self) -> list[tuple[str, int]]:
        """(label, count) lines of the end-of-run table."""
        lines = [
            ("files found", self.found),
            ("ingested", self.statuses[INGESTED]),
            ("already known", self.statuses[UNCHANGED] + self.statuses[KNOWN]),
            ("moved (path updated)", self.statuses[MOVED]),
            ("duplicate copies", self.statuses[DUPLICATE]),
            ("lights solved", self.solved),
        ]
        lines += [(f"lights unsolved: {r}", n) for r, n in sorted(self.unsolved.items())]
        lines.append(("failed", self.failed))
        lines += [(f"failed: {r}", n) for r, n in sorted(self.failures.items())]
        return lines

    def table(self) -> Any:
        """The summary as a rich Table."""
        from rich.table import Table

        table = Table(title="Ingest summary")
        table.add_column("")
        table.add_column("files", justify="right")
        for label, count in self.rows():
            style = "red" if label.startswith("failed") and count else None
            table.add_row(label, str(count), style=style)
        return table


# -- finding files -----------------------------------------------------------------------------


def find_frame_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Absolute paths of every frame file under ``paths`` (files given directly count too),
    sorted, without duplicates. Hidden folders and temporary names are skipped."""
    from september.image.frames import is_frame_path

    found: set[str] = set()
    for given in paths:
        root = os.path.abspath(given)
        if os.path.isfile(root):
            found.add(root)
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(f"{given}: no such file or folder")
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            found.update(os.path.join(folder, name) for name in names if is_frame_path(name))
    return sorted(found)


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- one file ----------------------------------------------------------------------------------


def ingest_file(path: str, options: IngestOptions) -> FileOutcome:
    """Catalogue one file; never raises for a bad file (the failure is recorded instead).

    Raises only when the run itself cannot go on: the database stays unreachable for longer
    than ``options.db_retry_seconds``, or a needed tool (solve-field) is missing.
    """
    start = time.perf_counter()
    engine = engine_for(options.database_url)
    try:
        stat = os.stat(path)
    except OSError as err:
        return FileOutcome(path, FAILED, "unreadable", f"{path}: {err}")
    size, mtime = stat.st_size, stat.st_mtime
    try:
        outcome = _catalogue(path, size, mtime, options, engine)
    except (ToolMissingError, DatabaseError, sa.exc.OperationalError, sa.exc.InterfaceError):
        raise
    except Exception as err:  # the record-and-continue boundary of the ingest loop
        reason = getattr(err, "reason", None) or type(err).__name__
        message = str(err) or type(err).__name__

        def record() -> None:
            with engine.begin() as connection:
                frames.record_failure(connection, path, size, mtime, reason, message)

        _retrying(record, options, f"recording the failure of {path}")
        outcome = FileOutcome(path, FAILED, reason, message)
    return _timed(outcome, start)


def _timed(outcome: FileOutcome, start: float) -> FileOutcome:
    return replace(outcome, seconds=time.perf_counter() - start)


def _catalogue(
    path: str, size: int, mtime: float, options: IngestOptions, engine: sa.Engine
) -> FileOutcome:
    def look_up() -> frames.KnownFile | None:
        with engine.connect() as connection:
            return frames.known_file(connection, path)

    known = _retrying(look_up, options, f"looking up {path}")
    if known is not None and known.size == size and known.mtime == mtime:
        return FileOutcome(path, UNCHANGED)
    sha = sha256_file(path)

    def relocate_known_content() -> FileOutcome | None:
        with engine.begin() as connection:
            existing = frames.find_by_sha(connection, sha)
            if existing is None:
                return None
            return _relocate(connection, existing, path, size, mtime, sha)

    relocated = _retrying(relocate_known_content, options, f"looking up the content of {path}")
    if relocated is not None:
        return relocated
    values = _analyse(path, options)
    values.update(path=path, size=size, mtime=mtime, sha256=sha)

    def write() -> frames.UpsertResult:
        with engine.begin() as connection:
            return frames.upsert_frame(connection, values)

    result = _retrying(write, options, f"writing the row of {path}")
    return FileOutcome(
        path,
        INGESTED if result.inserted else KNOWN,
        frame_type=values["frame_type"],
        solve_status=values["solve_status"],
        solve_reason=values.get("solve_reason"),
    )


_T = TypeVar("_T")


def _connection_lost(err: sa.exc.DBAPIError) -> bool:
    """True when ``err`` means the database went away (worth waiting for), not a bad query."""
    if err.connection_invalidated:
        return True
    state = getattr(err.orig, "sqlstate", None)
    return state is None or state.startswith("08") or state in CONNECTION_LOST_STATES


def _retrying(action: Callable[[], _T], options: IngestOptions, what: str) -> _T:
    """Run one database step (a whole transaction); while the connection is lost, wait with
    exponential backoff and run it again, for up to ``options.db_retry_seconds`` in total."""
    deadline = time.monotonic() + options.db_retry_seconds
    wait, attempt = RETRY_FIRST_WAIT, 0
    while True:
        try:
            return action()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as err:
            if not _connection_lost(err):
                raise
            left = deadline - time.monotonic()
            cause = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else err
            if left <= 0:
                raise DatabaseError(
                    f"lost the catalogue database while {what}, and it did not come back "
                    f"within {options.db_retry_seconds:g} s ({cause}). Check that PostgreSQL "
                    "is running (`september status`), then run again: finished files are kept."
                ) from err
            attempt += 1
            pause = min(wait, left)
            message = "database unavailable while %s (%s); retry %d in %.1f s"
            log.warning(message, what, cause, attempt, pause)
            time.sleep(pause)
            wait = min(wait * 2, RETRY_LONGEST_WAIT)


def _relocate(
    connection: sa.Connection,
    existing: frames.FrameRecord,
    path: str,
    size: int,
    mtime: float,
    sha: str,
) -> FileOutcome:
    """Known content at a new path: a move, unless the old file is still there (a copy)."""
    if existing.path != path and _same_file_still_there(existing):
        message = f"same content as {existing.path} (already catalogued)"
        frames.record_failure(connection, path, size, mtime, DUPLICATE, message)
        return FileOutcome(path, DUPLICATE, DUPLICATE, message)
    old = frames.relocate(connection, sha, path, size, mtime)
    status = KNOWN if old == path else MOVED
    return FileOutcome(path, status, message=f"moved from {old}" if status == MOVED else None)


def _same_file_still_there(record: frames.FrameRecord) -> bool:
    try:
        stat = os.stat(record.path)
    except OSError:
        return False
    return stat.st_size == record.size and (
        stat.st_mtime == record.mtime or sha256_file(record.path) == record.sha256
    )


# -- the science of one frame ------------------------------------------------------------------


def _analyse(path: str, options: IngestOptions) -> dict[str, Any]:
    """Column values from the frame's header, stars and plate solution (no identity columns)."""
    from september.image.frames import read_frame

    frame = read_frame(path)
    meta = frame.meta
    height, width = frame.data.shape
    values: dict[str, Any] = {
        "frame_type": meta.frame_type,
        "object": meta.object,
        "filter": meta.filter,
        "exposure": meta.exposure,
        "gain": meta.gain,
        "offset": meta.offset,
        "xbinning": meta.xbinning,
        "ybinning": meta.ybinning,
        "ccd_temp": meta.ccd_temp,
        "set_temp": meta.set_temp,
        "camera": meta.camera,
        "telescope": meta.telescope,
        "focal_length": meta.focal_length,
        "pixel_size": meta.pixel_size,
        "date_obs": meta.date_obs,
        "pier_side": meta.pier_side,
        "header_ra": meta.ra,
        "header_dec": meta.dec,
        "width": width,
        "height": height,
        "capture_software": meta.capture_software,
        "extras": _json_safe(meta.extras),
    }
    if meta.frame_type != "light":
        values.update(_level(frame.data), solve_status="skipped", solve_reason="calibration")
        return values
    values.update(_measure_and_solve(frame, options))
    return values


def _level(data: np.ndarray) -> dict[str, float]:
    """Background level and noise of a calibration frame (sigma-clipped, on a subsample)."""
    from astropy.stats import sigma_clipped_stats

    _, median, std = sigma_clipped_stats(data[::4, ::4], sigma=3.0, maxiters=3)
    return {"background": float(median), "background_rms": float(std)}


def _measure_and_solve(frame: Any, options: IngestOptions) -> dict[str, Any]:
    from september.astrometry.solve import hints_from_meta, solve_stars
    from september.stars.measure import measure_stars

    height, width = frame.data.shape
    measured = measure_stars(frame.data)
    stars = measured.stars
    values: dict[str, Any] = {
        "star_count": int(measured.count),
        "fwhm": _finite(measured.fwhm),
        "hfr": _finite(measured.hfr),
        "eccentricity": _finite(measured.eccentricity),
        "background": _finite(measured.background),
        "background_rms": _finite(measured.background_rms),
        "stars": _pack_stars(stars),
    }
    brightest = stars[: options.max_stars]
    try:
        solution = solve_stars(
            brightest["x"],
            brightest["y"],
            brightest["flux"],
            width,
            height,
            hints_from_meta(frame.meta),
            cpulimit=options.cpulimit,
            index_dir=options.index_dir,
        )
    except SolveError as err:
        values.update(solve_status="failed", solve_reason=err.reason or "unsolved")
        return values
    values.update(
        solve_status="solved",
        solve_reason=None,
        wcs=solution.wcs_header,
        ra=float(solution.ra),
        dec=float(solution.dec),
        pixel_scale=float(solution.pixel_scale),
        rotation=float(solution.rotation),
        parity=solution.parity,
        width_deg=float(solution.width_deg),
        height_deg=float(solution.height_deg),
        radius_deg=float(solution.radius),
        corners=[float(v) for corner in solution.corners for v in corner],
    )
    return values


def _pack_stars(stars: np.ndarray) -> bytes:
    """The brightest detections as little-endian float32 rows (x, y, flux, fwhm)."""
    kept = stars[:STARS_KEPT]
    table = np.column_stack([kept["x"], kept["y"], kept["flux"], kept["fwhm"]])
    return table.astype("<f4").tobytes()


def unpack_stars(blob: bytes) -> np.ndarray:
    """Inverse of the packing stored in ``subframes.stars``: an (N, 4) float32 array."""
    return np.frombuffer(blob, dtype="<f4").reshape(-1, 4)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _json_safe(extras: dict[str, Any]) -> dict[str, Any]:
    """Header extras as JSON values (PostgreSQL jsonb refuses NaN and NUL characters)."""
    out: dict[str, Any] = {}
    for key, value in extras.items():
        if isinstance(value, float) and not np.isfinite(value):
            value = str(value)
        elif isinstance(value, str):
            value = value.replace("\x00", "")
        elif not isinstance(value, (int, float, bool, type(None))):
            value = str(value)
        out[str(key).replace("\x00", "")] = value
    return out


# -- a run -------------------------------------------------------------------------------------


def _pending(files: list[str], options: IngestOptions) -> Iterator[str]:
    """Files whose path+size+mtime the catalogue does not already know (a cheap pre-filter)."""
    engine = engine_for(options.database_url)
    prefix = os.path.commonpath(files) if files else ""

    def look_up() -> dict[str, frames.KnownFile]:
        with engine.connect() as connection:
            return frames.known_files(connection, prefix)

    known = _retrying(look_up, options, "listing the catalogued files")
    for path in files:
        entry = known.get(path)
        if entry is not None:
            try:
                stat = os.stat(path)
            except OSError:
                yield path
                continue
            if entry.size == stat.st_size and entry.mtime == stat.st_mtime:
                continue
        yield path


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    config: Config,
    workers: int | None = None,
    progress: bool = True,
    *,
    options: IngestOptions | None = None,
) -> IngestSummary:
    """Catalogue every frame under ``paths`` with ``workers`` processes; return the counts.

    The run goes on past bad files (recorded with a reason) and waits for a lost database. It
    stops only when the database stays unreachable for ``db_retry_seconds`` or solve-field is
    missing.
    """
    options = options or IngestOptions.from_config(config)
    workers = max(1, workers or config.ingest.workers)
    files = find_frame_files(paths)
    summary = IngestSummary(found=len(files))
    todo = list(_pending(files, options))
    summary.statuses[UNCHANGED] += len(files) - len(todo)
    with _Progress(len(todo), enabled=progress) as bar:
        for outcome in _run(todo, options, workers):
            summary.add(outcome)
            bar.advance(outcome)
    return summary


def _run(todo: list[str], options: IngestOptions, workers: int) -> Iterator[FileOutcome]:
    if workers == 1 or len(todo) <= 1:
        for path in todo:
            yield ingest_file(path, options)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(ingest_file, path, options) for path in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class _Progress:
    """A rich progress bar on stderr (or nothing when disabled)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and total > 0
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def advance(self, outcome: FileOutcome) -> None:
        self.counts[outcome.status] += 1
        if self.enabled:
            text = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            self._bar.update(self._task, advance=1, description=text)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
