"""Clustering 100,000 catalogued frames into panels: september vs plain scikit-learn DBSCAN.

Builds a throw-away private PostgreSQL cluster with september's schema, loads synthetic solved
lights with COPY (200 targets, a third of them 2x3 mosaics with 20% overlap, dithers, nightly
pointing drift, two rigs), then times `update_clusters` (the whole service: reading rows,
clustering, writing clusters and memberships). The peer is what one would write first: DBSCAN
with the haversine metric straight on all frames (no snapping, no database), on the same
positions. Both are scored against the known panels (adjusted Rand index).

Run: python bench/bench_cluster.py [--frames 100000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from september.catalogue import migrate
from september.catalogue.database import engine_for
from september.catalogue.server import PrivateServer
from september.config import ClusterConfig
from september.services.cluster import cluster_pointings, field_groups, update_clusters

RIGS = ((1.91, 1.45), (0.95, 0.72))  # degrees: a 530 mm and a 1060 mm focal length
TARGETS = 200


def _frames(count: int, seed: int) -> tuple[np.ndarray, ...]:
    """ra, dec, width, height and true panel id of ``count`` frames."""
    rng = np.random.default_rng(seed)
    panels = []  # (ra, dec, width, height)
    for target in range(TARGETS):
        ra0, dec0 = rng.uniform(0, 360), np.degrees(np.arcsin(rng.uniform(-0.4, 0.95)))
        width, height = RIGS[target % 2]
        layout = [(0, 0)] if target % 3 else [(c, r) for r in range(2) for c in range(3)]
        for col, row in layout:
            dec = dec0 + (row - 0.5) * height * 0.8
            ra = ra0 + (col - 1) * width * 0.8 / np.cos(np.radians(dec))
            panels.append((ra % 360, dec, width, height))
    panels_arr = np.array(panels)
    which = rng.integers(0, len(panels_arr), count)
    night_drift = rng.normal(0, 0.03, (count, 2))  # degrees of go-to error per night
    dither = rng.normal(0, 0.005, (count, 2))
    dec = panels_arr[which, 1] + night_drift[:, 1] + dither[:, 1]
    ra = panels_arr[which, 0] + (night_drift[:, 0] + dither[:, 0]) / np.cos(np.radians(dec))
    return ra % 360, dec, panels_arr[which, 2], panels_arr[which, 3], which


def _load(dsn: str, ra, dec, width, height) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        columns = "path, size, mtime, sha256, frame_type, width, height, solve_status, ra, dec, "
        columns += "width_deg, height_deg, object"
        with cur.copy(f"COPY subframes ({columns}) FROM STDIN") as copy:
            for i in range(len(ra)):
                copy.write_row(
                    (
                        f"/share/f{i:07d}.fits",
                        1,
                        0.0,
                        f"{i:064x}",
                        "light",
                        4656,
                        3520,
                        "solved",
                        float(ra[i]),
                        float(dec[i]),
                        float(width[i]),
                        float(height[i]),
                        "target",
                    )
                )
        conn.commit()


def _peer(ra, dec, width) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    labels = np.empty(len(ra), dtype=int)
    offset = 0
    for rig_width in np.unique(width):  # the peer knows the rigs apart, to be fair
        chosen = width == rig_width
        eps = np.radians(0.2 * min(rig_width, RIGS[0][1] if rig_width == RIGS[0][0] else 0.72))
        points = np.radians(np.column_stack([dec[chosen], ra[chosen]]))
        found = DBSCAN(eps=eps, min_samples=1, metric="haversine").fit_predict(points)
        labels[chosen] = found + offset
        offset += found.max() + 1
    return labels, time.perf_counter() - start


def _ours_in_memory(ra, dec, width, height) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    labels = np.empty(len(ra), dtype=int)
    groups = field_groups(width, height, ClusterConfig().fov_tolerance)
    offset = 0
    for group in np.unique(groups):
        chosen = groups == group
        link = 0.2 * float(np.median(np.minimum(width[chosen], height[chosen])))
        found = cluster_pointings(ra[chosen], dec[chosen], link)
        labels[chosen] = found + offset
        offset += found.max() + 1
    return labels, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    ra, dec, width, height, truth = _frames(args.frames, args.seed)
    root = Path(tempfile.mkdtemp(prefix="september-bench-cluster-"))
    root.chmod(0o755)
    server = PrivateServer(root / "cluster", port=56434, fast_unsafe=True)
    try:
        server.ensure_running()
        migrate.upgrade(server.url())
        _load(server.libpq_dsn(), ra, dec, width, height)
        engine = engine_for(server.url())
        start = time.perf_counter()
        update = update_clusters(engine, ClusterConfig())
        ours = time.perf_counter() - start
        with psycopg.connect(server.libpq_dsn()) as conn:
            rows = conn.execute(
                "SELECT s.path, m.cluster_id FROM subframes s "
                "JOIN cluster_members m ON m.subframe_id = s.id"
            ).fetchall()
        labels = np.empty(args.frames, dtype=int)
        for path, cluster in rows:
            labels[int(path[len("/share/f") : -len(".fits")])] = cluster
        score = adjusted_rand_score(truth, labels)
        print(f"frames: {args.frames:,}; true panels: {len(np.unique(truth))}")
        print(
            f"september update_clusters: {ours:.2f} s, {len(update.created)} clusters, "
            f"ARI {score:.4f}"
        )
        algorithm, algorithm_time = _ours_in_memory(ra, dec, width, height)
        print(
            f"september clustering step alone (in memory): {algorithm_time:.2f} s, "
            f"ARI {adjusted_rand_score(truth, algorithm):.4f}"
        )
        if not args.skip_peer:
            peer_labels, peer = _peer(ra, dec, width)
            print(
                f"plain DBSCAN (haversine): {peer:.2f} s, {len(np.unique(peer_labels))} "
                f"clusters, ARI {adjusted_rand_score(truth, peer_labels):.4f}"
            )
            print(f"ratio, clustering step (peer / september): {peer / algorithm_time:.0f}x")
            print(f"ratio, whole service with database (peer / september): {peer / ours:.2f}x")
        print(f"target < 5 s: {'met' if ours < 5 else 'NOT met'}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
