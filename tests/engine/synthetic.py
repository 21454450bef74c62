"""Seeded synthetic star fields with known geometry for the engine tests."""

from __future__ import annotations

import numpy as np


def star_catalogue(
    rng: np.random.Generator, shape: tuple[int, int], count: int = 250, margin: int = -40
) -> np.ndarray:
    """(count, 3) x, y, flux in reference pixels; a power law of fluxes like a real field."""
    height, width = shape
    x = rng.uniform(margin, width - margin, count)
    y = rng.uniform(margin, height - margin, count)
    flux = 400.0 * (1.0 + rng.pareto(1.2, count))
    return np.column_stack([x, y, np.minimum(flux, 2e5)])


def render(
    stars: np.ndarray,
    shape: tuple[int, int],
    *,
    fwhm: float = 3.0,
    matrix: np.ndarray | None = None,
    sky: float = 500.0,
    noise: float = 10.0,
    rng: np.random.Generator | None = None,
    ellipticity: float = 0.0,
) -> np.ndarray:
    """Render Gaussian stars at ``matrix @ [x, y, 1]`` (reference -> frame) on a flat sky."""
    height, width = shape
    xy = stars[:, :2]
    if matrix is not None:
        xy = xy @ matrix[:, :2].T + matrix[:, 2]
    image = np.full(shape, sky, np.float64)
    sx = fwhm / 2.3548
    sy = sx * (1.0 - ellipticity)
    r = int(np.ceil(5 * sx)) + 1
    for (x, y), flux in zip(xy, stars[:, 2], strict=True):
        ix, iy = round(x), round(y)
        x0, x1 = max(ix - r, 0), min(ix + r + 1, width)
        y0, y1 = max(iy - r, 0), min(iy + r + 1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        gx = np.arange(x0, x1) - x
        gy = np.arange(y0, y1)[:, None] - y
        image[y0:y1, x0:x1] += (
            flux / (2 * np.pi * sx * sy) * np.exp(-0.5 * (gx**2 / sx**2 + gy**2 / sy**2))
        )
    if rng is not None:
        image += rng.normal(0.0, noise, shape)
    return image.astype(np.float32)


def rotation_matrix(angle_deg: float, dx: float, dy: float, centre: tuple[float, float]):
    """2 x 3 matrix rotating by ``angle_deg`` about ``centre`` then shifting by (dx, dy)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    cx, cy = centre
    rot = np.array([[c, -s], [s, c]])
    offset = np.array([cx, cy]) - rot @ np.array([cx, cy]) + np.array([dx, dy])
    return np.column_stack([rot, offset])
