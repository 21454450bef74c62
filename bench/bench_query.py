"""Radial-query latency on 1,000,000 catalogued frames: Q3C index vs the same cone without it.

Builds a throw-away private PostgreSQL cluster, applies september's migrations, loads synthetic
frame rows with COPY (frames clustered on 2,000 targets, as a real archive is), runs
`september db maintain`'s CLUSTER + ANALYZE, then times a 2-degree cone count through a
prepared statement:

- indexed:   SELECT count(*) FROM subframes WHERE q3c_radial_query(ra, dec, $1, $2, 2)
- unindexed: SELECT count(*) FROM subframes WHERE q3c_dist(ra, dec, $1, $2) < 2   (seq scan)

Both run with ``jit = off`` (see docs/catalogue.md).

Run: python bench/bench_query.py [--rows 1000000] [--queries 500]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

from september.catalogue import migrate
from september.catalogue.server import PrivateServer

RADIUS = 2.0  # degrees
TARGETS = 2000
JITTER = 0.5  # degrees, spread of a target's frames


def _rows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target_ra = rng.uniform(0, 360, TARGETS)
    target_dec = np.degrees(np.arcsin(rng.uniform(-0.5, 1.0, TARGETS)))  # dec > -30
    which = rng.integers(0, TARGETS, count)
    dec = np.clip(target_dec[which] + rng.normal(0, JITTER, count), -89.9, 89.9)
    ra = (target_ra[which] + rng.normal(0, JITTER, count) / np.cos(np.radians(dec))) % 360
    return ra, dec, target_ra, target_dec


def _load(dsn: str, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ra, dec, target_ra, target_dec = _rows(count, seed)
    start = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        columns = "path, size, mtime, sha256, frame_type, width, height, solve_status, ra, dec, "
        columns += "radius_deg, date_obs"
        with cur.copy(f"COPY subframes ({columns}) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row(
                    (
                        f"/share/{i // 500:05d}/frame_{i:07d}.fits",
                        16_000_000,
                        1.7e9 + i,
                        f"{i:064x}",
                        "light",
                        4656,
                        3520,
                        "solved",
                        float(ra[i]),
                        float(dec[i]),
                        1.05,
                        "2026-01-01T00:00:00Z",
                    )
                )
        conn.commit()
        print(f"COPY of {count:,} rows: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        conn.autocommit = True
        cur.execute("CLUSTER subframes USING subframes_q3c")
        cur.execute("ANALYZE subframes")
        print(f"CLUSTER + ANALYZE: {time.perf_counter() - start:.1f} s")
    return target_ra, target_dec


def _time(dsn: str, sql: str, points: list[tuple[float, float]]) -> tuple[list[float], list[int]]:
    times, counts = [], []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # JIT compiling a plan with ~100 index ranges costs far more than running it.
        conn.execute("SET jit = off")
        for _ in range(3):  # warm the cache and the prepared statement
            conn.execute(sql, points[0], prepare=True).fetchone()
        for ra, dec in points:
            start = time.perf_counter()
            counts.append(conn.execute(sql, (ra, dec), prepare=True).fetchone()[0])
            times.append(time.perf_counter() - start)
    return times, counts


def _server_times(
    dsn: str, sql: str, points: list[tuple[float, float]]
) -> tuple[float, float, bool]:
    """Median planning and execution time the server reports, and whether the index is used."""
    planning, execution, uses_index = [], [], True
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET jit = off")
        for ra, dec in points:
            lines = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, TIMING OFF) " + sql % (ra, dec))]
            uses_index &= any("subframes_q3c" in line for line in lines)
            for line in lines:
                if line.startswith("Planning Time"):
                    planning.append(float(line.split()[2]))
                elif line.startswith("Execution Time"):
                    execution.append(float(line.split()[2]))
    return statistics.median(planning), statistics.median(execution), uses_index


def _percentiles(times: list[float]) -> tuple[float, float]:
    ms = np.array(times) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--unindexed-queries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="september-bench-query-"))
    root.chmod(0o755)
    server = PrivateServer(root / "cluster", port=56433, fast_unsafe=True)
    try:
        server.ensure_running()
        migrate.upgrade(server.url())
        dsn = server.libpq_dsn()
        target_ra, target_dec = _load(dsn, args.rows, args.seed)
        rng = np.random.default_rng(args.seed + 1)
        picks = rng.integers(0, TARGETS, args.queries)
        # Half the cones on targets (busy sky), half anywhere (mostly empty sky).
        points = [
            (float(target_ra[p]), float(target_dec[p]))
            if k % 2 == 0
            else (float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-0.5, 1)))))
            for k, p in enumerate(picks)
        ]
        indexed = (
            f"SELECT count(*) FROM subframes WHERE q3c_radial_query(ra, dec, %s, %s, {RADIUS})"
        )
        unindexed = f"SELECT count(*) FROM subframes WHERE q3c_dist(ra, dec, %s, %s) < {RADIUS}"
        fast, fast_counts = _time(dsn, indexed, points)
        slow_points = points[: args.unindexed_queries]
        slow, slow_counts = _time(dsn, unindexed, slow_points)
        assert fast_counts[: len(slow_counts)] == slow_counts, "indexed and seq-scan counts differ"
        plan_ms, run_ms, uses_index = _server_times(dsn, indexed, points[:100])
        p50, p95 = _percentiles(fast)
        s50, s95 = _percentiles(slow)
        print(
            f"rows: {args.rows:,}; cone radius {RADIUS} deg; mean hits {np.mean(fast_counts):.0f}"
        )
        print(f"q3c index ({len(fast)} queries): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
        print(f"no index  ({len(slow)} queries): p50 {s50:.1f} ms, p95 {s95:.1f} ms")
        print(f"plan uses subframes_q3c: {uses_index}")
        print(
            f"server-side (EXPLAIN ANALYZE, median of {min(100, len(points))}): planning "
            f"{plan_ms:.2f} ms, execution {run_ms:.2f} ms"
        )
        print(f"ratio (p50 without / with index): {s50 / p50:.0f}x")
        print(f"target p50 < 5 ms: {'met' if p50 < 5 else 'NOT met'}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
