"""Whether a sky position lies inside a frame's footprint, exactly, on the sphere.

A frame's footprint is the spherical quadrilateral whose edges are the great circles through its
four corners (which is what a TAN projection maps the image edges to). A point is inside when it
lies on the inner side of all four edge planes, tested with unit vectors: no projection, no
special case at RA 0/360 or at the poles.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["footprint_contains", "unit_vectors"]


def unit_vectors(ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
    """Cartesian unit vectors (..., 3) of positions in degrees."""
    ra_rad, dec_rad = np.radians(ra), np.radians(dec)
    cos_dec = np.cos(dec_rad)
    return np.stack([cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)], -1)


def footprint_contains(
    corners: Sequence[tuple[float, float]], ra: float | np.ndarray, dec: float | np.ndarray
) -> bool | np.ndarray:
    """True where (ra, dec) (degrees; scalars or arrays) lies inside the corners' footprint.

    ``corners`` are four (ra, dec) pairs in pixel-corner order (either winding). Points on an
    edge count as inside.
    """
    vertices = unit_vectors(*np.asarray(corners, dtype=float).T)
    if vertices.shape[0] < 3:
        raise ValueError(f"a footprint needs at least 3 corners, got {vertices.shape[0]}")
    centre = vertices.sum(axis=0)
    centre /= np.linalg.norm(centre)
    normals = np.cross(vertices, np.roll(vertices, -1, axis=0))
    normals *= np.where(normals @ centre < 0, -1.0, 1.0)[:, None]  # point them inwards
    points = unit_vectors(ra, dec)
    tolerance = 1e-12
    inside = np.all(points @ normals.T >= -tolerance, axis=-1) & (points @ centre > 0)
    return bool(inside) if inside.ndim == 0 else inside
