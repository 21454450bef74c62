"""Reference catalogue: loading the bundled Gaia DR3 stars into PostgreSQL, and cross-matching
one frame's ~2,000 detected stars in the database (q3c_join) vs in memory (KD-tree).

Builds a throw-away private PostgreSQL cluster with september's migrations, then:

- load: `september catalog load` (binary COPY into a staging table, INSERT .. ON CONFLICT,
  CLUSTER on the q3c index, ANALYZE) of all 482k bundled stars; then the same load again
  (idempotent: nothing new).
- cross-match: 2,000 "detections" = the catalogue stars nearest a field centre moved by ~1"
  plus 400 detections with no star; matched within 5" to their nearest catalogue star by
  (a) `reference_stars.crossmatch` (one SQL statement: MATERIALIZED CTE of the detections,
      LATERAL q3c_join probe of the indexed stars table, nearest per detection), and
  (b) `reference_stars.cone` (one q3c_radial_query) + `crossmatch.match_sky` (scipy cKDTree
      on unit vectors), which is what grading does.
  Both must give the same pairs; median wall time over repeats.

Run: python bench/bench_catalog.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from september.catalogue import migrate, reference_stars
from september.catalogue.database import engine_for
from september.catalogue.server import PrivateServer
from september.services.catalog import load_catalogue
from september.stars.crossmatch import match_sky

DETECTED = 2000
SPURIOUS = 400
MATCH_RADIUS = 5.0 / 3600  # degrees
CENTRE = (83.63, 22.01)  # M1


def _detections(stars: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ra0, dec0 = np.radians(CENTRE)
    ra, dec = np.radians(stars["ra"]), np.radians(stars["dec"])
    cos_d = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    nearest = np.argsort(-cos_d)[:DETECTED]
    jitter = rng.normal(0, 1.0 / 3600, (2, DETECTED))
    det_dec = stars["dec"][nearest] + jitter[1]
    det_ra = stars["ra"][nearest] + jitter[0] / np.cos(np.radians(det_dec))
    radius = np.degrees(np.arccos(cos_d[nearest[-1]]))
    extra_ra = CENTRE[0] + rng.uniform(-radius, radius, SPURIOUS)
    extra_dec = CENTRE[1] + rng.uniform(-radius / 2, radius / 2, SPURIOUS)
    return np.concatenate([det_ra, extra_ra]), np.concatenate([det_dec, extra_dec])


def _median_ms(function: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="september-bench-catalog-"))
    root.chmod(0o755)
    server = PrivateServer(root / "cluster", port=56434, fast_unsafe=True)
    server.ensure_running()
    try:
        url = server.url()
        migrate.upgrade(url)
        engine = engine_for(url)
        start = time.perf_counter()
        first = load_catalogue(engine, "gaia-bundled")
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        again = load_catalogue(engine, "gaia-bundled")
        reload_s = time.perf_counter() - start
        rate = first.inserted / load_s
        print(f"load:   {first.inserted} stars in {load_s:.2f} s ({rate:,.0f} rows/s)")
        print(f"reload: {again.inserted} new stars in {reload_s:.2f} s (idempotent)")

        with engine.connect() as connection:
            everything = reference_stars.cone(connection, *CENTRE, 30.0)
        ra, dec = _detections(everything, np.random.default_rng(1))
        field = float(np.degrees(np.arccos(np.clip(
            np.sin(np.radians(dec)) * np.sin(np.radians(CENTRE[1]))
            + np.cos(np.radians(dec)) * np.cos(np.radians(CENTRE[1]))
            * np.cos(np.radians(ra - CENTRE[0])), -1, 1))).max()) + 0.01  # fmt: skip

        def in_database() -> np.ndarray:
            with engine.connect() as connection:
                return reference_stars.crossmatch(connection, ra, dec, MATCH_RADIUS)

        def in_memory() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            with engine.connect() as connection:
                stars = reference_stars.cone(connection, *CENTRE, field)
            index, cat_index, separation = match_sky(
                ra, dec, stars["ra"], stars["dec"], MATCH_RADIUS
            )
            return index, stars["source_id"][cat_index], separation

        db = in_database()
        mem = in_memory()
        assert np.array_equal(db["index"], mem[0]) and np.array_equal(db["source_id"], mem[1])
        db_ms = _median_ms(in_database, args.repeats)
        mem_ms = _median_ms(in_memory, args.repeats)
        print(
            f"cross-match of {len(ra)} detections ({len(db)} matched, field radius "
            f"{field:.1f} deg):"
        )
        print(f"  in database (q3c_join):        {db_ms:7.1f} ms")
        print(f"  in memory (cone + KD-tree):    {mem_ms:7.1f} ms")
        print(f"  ratio q3c_join / KD-tree:      {db_ms / mem_ms:7.2f}")
    finally:
        engine_for(server.url()).dispose()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
