"""Ingest of full-scale (16 MP) simulated frames: september end to end vs plain solve-field.

Simulates a few full-scale Crab lights (4656x3520, 3.8 um pixels), then on the same files:

- september: `ingest` one file at a time with one worker (hash, read, star detection and
  measurement, hinted plate solve on its own star list, verification, database write), timed
  per frame;
- peer: `solve-field FRAME --dir TMP` with astrometry.net's defaults (its own source extraction,
  no hints), timed per frame. Outputs go to a temporary folder; the frames are only read.

Prints the per-frame medians and their ratio. Run: python bench/bench_ingest.py [--frames 5]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from september.catalogue import migrate
from september.catalogue.server import PrivateServer
from september.config import Config
from september.services.ingest import IngestOptions, ingest

PEER_TIMEOUT = 600.0  # seconds per frame for plain solve-field


def _simulate(out: Path, frames: int, seed: int) -> list[Path]:
    from september.sim import read_truth, simulate

    start = time.perf_counter()
    simulate("crab", out, scale="full", seed=seed, nights=1, frames=frames, filters=("L",),
             calibration_frames=1)  # fmt: skip
    print(f"simulated {frames} full-scale lights in {time.perf_counter() - start:.0f} s")
    truth = read_truth(out)
    return [out / f.path for f in truth.frames if f.frame_type == "light"]


def _september(lights: list[Path], url: str) -> list[float]:
    options = IngestOptions(database_url=url, cpulimit=30.0)
    times = []
    for path in lights:
        start = time.perf_counter()
        summary = ingest([path], Config(), workers=1, progress=False, options=options)
        times.append(time.perf_counter() - start)
        [outcome] = summary.outcomes
        print(
            f"  september {path.name}: {times[-1]:.2f} s ({outcome.status}, {outcome.solve_status})"
        )
    return times


def _peer(lights: list[Path], timeout: float) -> tuple[list[float], int]:
    times, solved = [], 0
    for path in lights:
        with tempfile.TemporaryDirectory(prefix="september-bench-peer-") as tmp:
            start = time.perf_counter()
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run(
                    ["solve-field", str(path), "--dir", tmp],
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            times.append(time.perf_counter() - start)
            ok = any(Path(tmp).glob("*.solved"))
        solved += ok
        print(f"  solve-field {path.name}: {times[-1]:.1f} s ({'solved' if ok else 'unsolved'})")
    return times, solved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--peer-timeout", type=float, default=PEER_TIMEOUT, help="seconds")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="september-bench-ingest-"))
    root.chmod(0o755)
    server = PrivateServer(root / "cluster", port=56434, fast_unsafe=True)
    try:
        lights = _simulate(root / "share", args.frames, args.seed)
        server.ensure_running()
        migrate.upgrade(server.url())
        print("september ingest, one worker:")
        ours = _september(lights, server.url())
        print("solve-field with defaults:")
        theirs, solved = _peer(lights, args.peer_timeout)
        ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
        print(f"frames: {len(lights)} full-scale (4656x3520) lights; peer solved {solved}")
        print(f"september median per frame: {ours_median:.2f} s (end to end, one core)")
        print(f"solve-field defaults median per frame: {theirs_median:.1f} s")
        bound = "at least " if solved < len(lights) else ""
        print(f"ratio: {bound}{theirs_median / ours_median:.1f}x faster (target >= 20x)")
        print(f"median < 1.5 s per frame per core: {'met' if ours_median < 1.5 else 'NOT met'}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
