"""Grouping solved lights into pointings and mosaic panels that stay stable as nights arrive.

Frames are points on the sphere (unit vectors). Two frames are in one panel when a chain of
frames links them with steps shorter than ``link_fraction`` of the field's smaller side: dithers,
pointing drift and meridian flips (same centre, field turned 180 degrees) stay together, while
mosaic neighbours, whose centres are (1 - overlap) of a field apart, separate. This is DBSCAN with
``min_samples=1`` (single linkage) on chord distances. Rigs whose fields differ by more than
``fov_tolerance`` are clustered separately.

New frames first join the existing panel whose centre is within the link distance; only the rest
form new panels, so names given on the first night are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import sqlalchemy as sa
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN
from sqlalchemy.engine import Engine

from september.catalogue import clusters as store
from september.config import ClusterConfig

__all__ = [
    "ClusterUpdate",
    "cluster_pointings",
    "field_groups",
    "mean_position",
    "update_clusters",
]

GRID_FRACTION = 0.125  # frames are snapped to a grid of link/8 before DBSCAN (keeps 100k fast)
_LOCK_KEY = 0x5E9_C105  # advisory lock: one clustering run at a time


def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    ra_r, dec_r = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec_r)
    return np.column_stack([cos_dec * np.cos(ra_r), cos_dec * np.sin(ra_r), np.sin(dec_r)])


def chord(angle_deg: float | np.ndarray) -> float | np.ndarray:
    """Straight-line distance between unit vectors ``angle_deg`` apart."""
    return 2.0 * np.sin(np.radians(angle_deg) / 2.0)


def mean_position(ra: np.ndarray, dec: np.ndarray) -> tuple[float, float]:
    """Centre of a set of positions (normalised mean of unit vectors; safe across RA 0/360)."""
    vector = unit_vectors(np.asarray(ra), np.asarray(dec)).mean(axis=0)
    vector /= np.linalg.norm(vector)
    ra_c = float(np.degrees(np.arctan2(vector[1], vector[0])) % 360.0)
    dec_c = float(np.degrees(np.arcsin(np.clip(vector[2], -1.0, 1.0))))
    return ra_c, dec_c


def field_groups(width: np.ndarray, height: np.ndarray, tolerance: float) -> np.ndarray:
    """Labels grouping frames of the same rig: fields within ``tolerance`` (relative) chain.

    Sizes are snapped to a log grid of tolerance/8 first: a rig's thousands of frames collapse
    to a few points, so the DBSCAN stays small.
    """
    if len(width) == 0:
        return np.zeros(0, dtype=int)
    step = np.log1p(tolerance) / 8.0
    sizes = np.round(np.log(np.column_stack([width, height])) / step)
    cells, inverse = np.unique(sizes, axis=0, return_inverse=True)
    labels = DBSCAN(eps=8.0, min_samples=1).fit_predict(cells)
    return labels[inverse.ravel()]


def cluster_pointings(ra: np.ndarray, dec: np.ndarray, link_deg: float) -> np.ndarray:
    """Labels (0..k-1) of single-linkage clusters with steps shorter than ``link_deg``.

    Positions are first snapped to a grid of ``GRID_FRACTION * link`` (a panel's frames collapse
    to a few cells), which keeps the run fast for 100,000 frames and moves no frame by more than
    0.11 of the link distance.
    """
    if len(ra) == 0:
        return np.zeros(0, dtype=int)
    vectors = unit_vectors(np.asarray(ra), np.asarray(dec))
    cell = float(chord(link_deg)) * GRID_FRACTION
    cells, inverse = np.unique(np.round(vectors / cell), axis=0, return_inverse=True)
    centres = cells * cell
    labels = DBSCAN(eps=float(chord(link_deg)), min_samples=1).fit_predict(centres)
    return labels[inverse.ravel()]


_SAFE_TARGET = re.compile(r"\s+")


def target_name(objects: list[str | None], ra: float, dec: float) -> str:
    """The cluster's target: the most common OBJECT header, or its coordinates when none."""
    names = [_SAFE_TARGET.sub(" ", o).strip() for o in objects if o and o.strip()]
    if names:
        return Counter(names).most_common(1)[0][0]
    sign = "+" if dec >= 0 else "-"
    return f"RA{ra:05.1f}{sign}{abs(dec):04.1f}"


@dataclass
class ClusterUpdate:
    """What one clustering run changed."""

    joined: int = 0  # frames added to existing clusters
    created: list[str] = field(default_factory=list)  # names of new clusters
    new_members: int = 0  # frames placed in new clusters


def _rig(width: float, height: float) -> str:
    return f"{width:.2f}x{height:.2f}"


def update_clusters(engine: Engine, config: ClusterConfig) -> ClusterUpdate:
    """Place every unclustered solved light into an existing or a new cluster."""
    update = ClusterUpdate()
    with engine.begin() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
        existing = store.list_clusters(connection)
        lights = store.unclustered_lights(connection)
        if not lights:
            return update
        ra, dec = np.array(lights.ra), np.array(lights.dec)
        width, height = np.array(lights.width_deg), np.array(lights.height_deg)
        ids = np.array(lights.id)
        touched: set[int] = set()
        assigned = _join_existing(ra, dec, width, height, existing, config)
        joins = [
            (existing[index].id, ids[assigned == index].tolist())
            for index in np.unique(assigned[assigned >= 0])
        ]
        store.add_memberships(connection, joins)
        touched.update(cluster_id for cluster_id, _ in joins)
        update.joined = sum(len(members) for _, members in joins)
        rest = np.flatnonzero(assigned < 0)
        if len(rest):
            _create_new(connection, lights, rest, ra, dec, width, height, existing, config, update)
        for cluster_id in touched:
            positions = np.array(store.cluster_positions(connection, cluster_id))
            store.update_centre(connection, cluster_id, *mean_position(*positions.T))
    return update


def _join_existing(
    ra: np.ndarray,
    dec: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    existing: list[store.ClusterRecord],
    config: ClusterConfig,
) -> np.ndarray:
    """Index into ``existing`` of the cluster each frame joins, or -1.

    A frame joins the nearest existing cluster of the same rig whose centre is within the link
    distance (the 16 nearest centres are examined through a KD-tree).
    """
    assigned = np.full(len(ra), -1)
    if not existing:
        return assigned
    centres = unit_vectors(np.array([c.ra for c in existing]), np.array([c.dec for c in existing]))
    c_width = np.array([c.width_deg for c in existing])
    c_height = np.array([c.height_deg for c in existing])
    link = chord(config.link_fraction * np.minimum(c_width, c_height))
    k = min(16, len(existing))
    distance, index = cKDTree(centres).query(unit_vectors(ra, dec), k=k)
    distance, index = distance.reshape(len(ra), k), index.reshape(len(ra), k)
    tolerance = np.log1p(config.fov_tolerance)
    same_rig = (np.abs(np.log(width[:, None] / c_width[index])) <= tolerance) & (
        np.abs(np.log(height[:, None] / c_height[index])) <= tolerance
    )
    usable = same_rig & (distance < link[index])
    first = np.argmax(usable, axis=1)  # neighbours come nearest first
    found = usable[np.arange(len(ra)), first]
    assigned[found] = index[np.arange(len(ra)), first][found]
    return assigned


def _create_new(
    connection: sa.Connection,
    lights: store.LightPositions,
    rest: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
    existing: list[store.ClusterRecord],
    config: ClusterConfig,
    update: ClusterUpdate,
) -> None:
    groups = field_groups(width[rest], height[rest], config.fov_tolerance)
    ids = np.array(lights.id)
    objects = np.array(lights.object, dtype=object)
    pending: list[tuple[str, float, float, float, float, list[int]]] = []
    for group in np.unique(groups):
        members = rest[groups == group]
        link = config.link_fraction * float(np.median(np.minimum(width[members], height[members])))
        labels = cluster_pointings(ra[members], dec[members], link)
        for label in np.unique(labels):
            chosen = members[labels == label]
            centre = mean_position(ra[chosen], dec[chosen])
            target = target_name(objects[chosen].tolist(), *centre)
            pending.append(
                (
                    target,
                    *centre,
                    float(np.median(width[chosen])),
                    float(np.median(height[chosen])),
                    ids[chosen].tolist(),
                )
            )
    # Number new panels of a target from the north-east corner, after its existing ones.
    pending.sort(key=lambda p: (p[0], -round(p[2], 3), round(p[1], 3)))
    last_panel: dict[str, int] = {}
    for cluster in existing:
        if cluster.panel[1:].isdigit():
            number = int(cluster.panel[1:])
            last_panel[cluster.target] = max(last_panel.get(cluster.target, 0), number)
    new_records, members = [], []
    for target, ra_c, dec_c, w, h, frame_ids in pending:
        last_panel[target] = last_panel.get(target, 0) + 1
        panel = f"P{last_panel[target]}"
        record = store.ClusterRecord(
            id=0,
            name=f"{target}-{panel}",
            target=target,
            panel=panel,
            rig=_rig(w, h),
            ra=ra_c,
            dec=dec_c,
            width_deg=w,
            height_deg=h,
        )
        new_records.append(record)
        members.append(frame_ids)
    cluster_ids = store.create_clusters(connection, new_records)
    store.add_memberships(
        connection, [(cid, ids) for cid, ids in zip(cluster_ids, members, strict=True)]
    )
    update.created.extend(r.name for r in new_records)
    update.new_members += sum(len(ids) for ids in members)
