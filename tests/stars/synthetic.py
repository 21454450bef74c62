"""Synthetic star fields with known PSFs, integrated over pixels, for measurement tests."""

from __future__ import annotations

import numpy as np

OVERSAMPLE = 5  # sub-pixel samples per axis when integrating a star over its pixels


def moffat_alpha(fwhm: float, beta: float) -> float:
    """Moffat core width for a given FWHM."""
    return fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))


def render(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    *,
    fwhm: float,
    beta: float | None = None,
    axis_ratio: float = 1.0,
    angle: float = 0.0,
    background: float = 1000.0,
    noise: float = 10.0,
    rng: np.random.Generator,
    box: int = 20,
) -> np.ndarray:
    """Stars with total ``flux`` (ADU) on a flat background plus Gaussian noise.

    ``beta=None`` draws Gaussian stars; otherwise Moffat stars. ``axis_ratio`` b/a < 1 makes
    elliptical stars along ``angle`` (rad); the geometric-mean FWHM is ``fwhm``.
    """
    image = np.full(shape, background, dtype=np.float64)
    offsets = (np.arange(-box * OVERSAMPLE, (box + 1) * OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5
    major, minor = fwhm / np.sqrt(axis_ratio), fwhm * np.sqrt(axis_ratio)
    cos, sin = np.cos(angle), np.sin(angle)
    for xs, ys, fs in zip(x, y, flux, strict=True):
        ix, iy = round(float(xs)), round(float(ys))
        sx = ix + offsets - xs
        sy = iy + offsets - ys
        gx, gy = np.meshgrid(sx, sy)
        u, v = gx * cos + gy * sin, -gx * sin + gy * cos
        if beta is None:
            q = (u / (major / 2.3548)) ** 2 + (v / (minor / 2.3548)) ** 2
            profile = np.exp(-q / 2)
        else:
            q = (u / moffat_alpha(major, beta)) ** 2 + (v / moffat_alpha(minor, beta)) ** 2
            profile = (1 + q) ** -beta
        n = 2 * box + 1
        pixels = profile.reshape(n, OVERSAMPLE, n, OVERSAMPLE).mean(axis=(1, 3))
        if beta is not None:  # total Moffat flux: pi alpha_a alpha_b / (beta - 1)
            norm = np.pi * moffat_alpha(major, beta) * moffat_alpha(minor, beta) / (beta - 1)
        else:
            norm = 2 * np.pi * (major / 2.3548) * (minor / 2.3548)
        y0, x0 = iy - box, ix - box
        sl = np.s_[max(y0, 0) : y0 + n, max(x0, 0) : x0 + n]
        cut = pixels[max(-y0, 0) :, max(-x0, 0) :][: image[sl].shape[0], : image[sl].shape[1]]
        image[sl] += fs * cut / norm
    return image + rng.normal(0, noise, shape)


def star_grid(
    shape: tuple[int, int], spacing: int, rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Star positions on a jittered grid (no blends), 0-based px, and fluxes."""
    ys, xs = np.mgrid[
        spacing : shape[0] - spacing : spacing, spacing : shape[1] - spacing : spacing
    ]
    x = xs.ravel() + rng.uniform(-0.5, 0.5, xs.size)
    y = ys.ravel() + rng.uniform(-0.5, 0.5, ys.size)
    flux = 10 ** rng.uniform(4.0, 5.5, xs.size)
    return x, y, flux
