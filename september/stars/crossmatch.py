"""Nearest-neighbour matching of sky positions with a KD-tree on unit vectors, the in-memory
counterpart of the catalogue's ``q3c_join`` (benchmarked side by side in ``bench/``)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["match_sky", "unit_vectors"]


def unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """(N, 3) Cartesian unit vectors of ICRS positions given in degrees."""
    r, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    cos_d = np.cos(d)
    return np.column_stack([cos_d * np.cos(r), cos_d * np.sin(r), np.sin(d)])


def match_sky(
    ra: np.ndarray,
    dec: np.ndarray,
    cat_ra: np.ndarray,
    cat_dec: np.ndarray,
    radius: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match each position to its nearest catalogue position within ``radius`` degrees.

    Returns ``(index, cat_index, separation_deg)`` for the matched positions only.
    """
    if len(ra) == 0 or len(cat_ra) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    chord = 2.0 * np.sin(np.radians(radius) / 2.0)
    tree = cKDTree(unit_vectors(cat_ra, cat_dec))
    distance, nearest = tree.query(unit_vectors(ra, dec), k=1, distance_upper_bound=chord)
    found = np.isfinite(distance)
    separation = np.degrees(2.0 * np.arcsin(np.clip(distance[found] / 2.0, 0.0, 1.0)))
    return np.flatnonzero(found), nearest[found].astype(np.int64), separation
