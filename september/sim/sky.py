"""The simulated sky: real Gaia stars plus deterministic synthetic faint stars, extended emission
at the targets, and the sky background, so every frame of a field shows the same sky."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

from september.sky.gaia import cone

SKY_SEED = 2016  # the synthetic sky is fixed: the same field always has the same faint stars
CELL_DEG = 0.5  # size of the cells that seed the synthetic stars
BRIGHT_LIMIT = 10.0  # the bundled Gaia catalogue is complete to here
FAINT_LIMIT = 17.0
COUNT_SLOPE = 0.32  # d log10 N(<m) / dm between G 10 and 17 (Gaia star counts)

STAR_DTYPE = np.dtype(
    [("ra", "f8"), ("dec", "f8"), ("mag", "f4"), ("colour", "f4"), ("source_id", "i8")]
)


def density_g17(b_deg: np.ndarray | float) -> np.ndarray | float:
    """Stars per square degree brighter than G = 17 at galactic latitude b (deg)."""
    return 700.0 + 5000.0 * np.exp(-np.abs(b_deg) / 8.0)


def galactic_latitude(ra: float, dec: float) -> float:
    """Galactic latitude (deg) of an ICRS position (J2000 north galactic pole)."""
    ra_p, dec_p = np.radians(192.85948), np.radians(27.12825)
    r, d = np.radians(ra), np.radians(dec)
    sin_b = np.sin(d) * np.sin(dec_p) + np.cos(d) * np.cos(dec_p) * np.cos(r - ra_p)
    return float(np.degrees(np.arcsin(sin_b)))


def _cell_seed(i_dec: int, i_ra: int) -> int:
    digest = hashlib.blake2b(f"{SKY_SEED}:{i_dec}:{i_ra}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _cell_ra_count(i_dec: int) -> int:
    dec_mid = -90.0 + (i_dec + 0.5) * CELL_DEG
    return max(1, round(360.0 * np.cos(np.radians(dec_mid)) / CELL_DEG))


@functools.lru_cache(maxsize=4096)
def _synthetic_cell(i_dec: int, i_ra: int) -> np.ndarray:
    """The faint synthetic stars of one sky cell (always the same for the same cell)."""
    n_ra = _cell_ra_count(i_dec)
    dec0 = -90.0 + i_dec * CELL_DEG
    ra0 = i_ra * 360.0 / n_ra
    ra_w = 360.0 / n_ra
    s0, s1 = np.sin(np.radians(dec0)), np.sin(np.radians(min(dec0 + CELL_DEG, 90.0)))
    area = np.degrees(ra_w * np.pi / 180.0) * np.degrees(s1 - s0)  # deg^2
    b = galactic_latitude(ra0 + ra_w / 2, dec0 + CELL_DEG / 2)
    rng = np.random.default_rng(_cell_seed(i_dec, i_ra))
    expected = density_g17(b) * area * (1 - 10 ** (-COUNT_SLOPE * (FAINT_LIMIT - BRIGHT_LIMIT)))
    n = rng.poisson(expected)
    stars = np.zeros(n, STAR_DTYPE)
    stars["ra"] = ra0 + rng.uniform(0, ra_w, n)
    stars["dec"] = np.degrees(np.arcsin(rng.uniform(s0, s1, n)))
    # inverse CDF of N(<m) ∝ 10^(slope m) truncated to (BRIGHT_LIMIT, FAINT_LIMIT]
    u = rng.uniform(0, 1, n)
    lo, hi = 10 ** (COUNT_SLOPE * BRIGHT_LIMIT), 10 ** (COUNT_SLOPE * FAINT_LIMIT)
    stars["mag"] = np.log10(lo + u * (hi - lo)) / COUNT_SLOPE
    stars["colour"] = rng.normal(1.0, 0.45, n)
    stars["source_id"] = -(np.int64(i_dec) * 10**9 + np.int64(i_ra) * 10**5 + np.arange(n))
    return stars


def synthetic_stars(ra: float, dec: float, radius: float) -> np.ndarray:
    """Synthetic stars (G 10..17) of every cell touching the cone (a superset of the cone)."""
    d_lo, d_hi = max(dec - radius, -90.0), min(dec + radius, 90.0)
    parts = []
    n_dec = round(180.0 / CELL_DEG)
    for i_dec in range(
        int((d_lo + 90) // CELL_DEG), min(int((d_hi + 90) // CELL_DEG), n_dec - 1) + 1
    ):
        n_ra = _cell_ra_count(i_dec)
        edge_dec = max(abs(d_lo), abs(d_hi))
        half = 180.0 if edge_dec > 89 else min(180.0, radius / np.cos(np.radians(edge_dec)))
        first = int(np.floor((ra - half) / 360.0 * n_ra))
        last = int(np.floor((ra + half) / 360.0 * n_ra))
        cells = {i % n_ra for i in range(first, last + 1)}
        parts.extend(_synthetic_cell(i_dec, i) for i in sorted(cells))
    return np.concatenate(parts) if parts else np.zeros(0, STAR_DTYPE)


def _gaia_colour(source_id: np.ndarray) -> np.ndarray:
    """A stable pseudo colour (BP-RP) per Gaia star (the bundle carries only G)."""
    h = (source_id.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    return (0.3 + 1.6 * (h.astype(np.float64) / 2**24)).astype(np.float32)


def stars_in_cone(ra: float, dec: float, radius: float, epoch: float) -> np.ndarray:
    """Gaia (G <= 10) and synthetic (10 < G <= 17) stars around (ra, dec)."""
    gaia = cone(ra, dec, radius, epoch=epoch)
    bright = np.zeros(len(gaia), STAR_DTYPE)
    for name in ("ra", "dec", "mag", "source_id"):
        bright[name] = gaia[name]
    bright["colour"] = _gaia_colour(gaia["source_id"])
    return np.concatenate([bright, synthetic_stars(ra, dec, radius)])


@dataclass(frozen=True)
class Nebula:
    """Extended emission: elliptical components in sky offsets from a centre, optionally broken
    into filaments by a fixed pattern (so stacks show structure, the same in every frame)."""

    name: str
    ra: float
    dec: float
    components: tuple[tuple[float, float, float, float, float, float, float], ...]
    # each: (dx_arcmin east, dy_arcmin north, major_arcmin, minor_arcmin, pa_deg, surface
    #        brightness in e-/s/arcsec^2 through L, sersic-like sharpness)
    line_fraction: float = 0.5  # share of the L light in emission lines (H-alpha, OIII, SII)
    texture: float = 0.0  # filament contrast (0: smooth)
    texture_scale_arcmin: float = 1.0

    def filter_factor(self, emission: float, continuum: float) -> float:
        """Brightness through a filter relative to L, from its line throughput ``emission`` and
        its continuum throughput ``continuum`` (both relative to L)."""
        return (1.0 - self.line_fraction) * continuum + self.line_fraction * emission

    def surface(self, xi: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """L surface brightness (e-/s/arcsec^2) at tangent-plane offsets (arcmin E, arcmin N)."""
        out = np.zeros(np.broadcast(xi, eta).shape, np.float32)
        for dx, dy, major, minor, pa, level, sharp in self.components:
            p = np.radians(pa)
            u = (xi - dx) * np.sin(p) + (eta - dy) * np.cos(p)
            v = (xi - dx) * np.cos(p) - (eta - dy) * np.sin(p)
            r = np.sqrt((u / (major / 2)) ** 2 + (v / (minor / 2)) ** 2)
            out += (level * np.exp(-(r**sharp) * 1.7)).astype(np.float32)
        if self.texture > 0:
            out *= self._filaments(xi, eta)
        return out

    def _filaments(self, xi: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """A fixed web of filaments (mean ~1): the zero crossings of a smooth random field laid
        on the sky around the nebula, sampled bilinearly."""
        web, half = _filament_grid(self.name, self.texture_scale_arcmin, self.extent_arcmin)
        n = web.shape[0]
        gx = (np.asarray(xi) + half) / (2 * half) * (n - 1)
        gy = (np.asarray(eta) + half) / (2 * half) * (n - 1)
        ridges = map_coordinates(web, [gy.ravel(), gx.ravel()], order=1, mode="wrap")
        ridges = ridges.reshape(np.broadcast(xi, eta).shape)
        return ((1.0 - self.texture) + self.texture * ridges).astype(np.float32)

    @property
    def extent_arcmin(self) -> float:
        """Half-size of the region the nebula's light covers."""
        return max(abs(c[0]) + abs(c[1]) + c[2] for c in self.components)


@functools.lru_cache(maxsize=8)
def _filament_grid(
    name: str, scale_arcmin: float, extent_arcmin: float
) -> tuple[np.ndarray, float]:
    """(grid of ridge strength normalised to mean 1, half-size in arcmin) for a nebula."""
    n = 512
    half = extent_arcmin
    rng = np.random.default_rng(_cell_seed(-1, sum(map(ord, name))))
    px_per_arcmin = (n - 1) / (2 * half)
    noise = rng.standard_normal((n, n))
    field = gaussian_filter(noise, scale_arcmin * px_per_arcmin, mode="wrap")
    field += 0.5 * gaussian_filter(noise[::-1], 0.4 * scale_arcmin * px_per_arcmin, mode="wrap")
    field /= field.std()
    ridges = 1.0 / (1.0 + (field / 0.25) ** 2)
    ridges /= ridges.mean()
    return ridges.astype(np.float32), half


NEBULAE: dict[str, Nebula] = {
    "M1": Nebula(
        "M1",
        83.6331,
        22.0145,
        (
            (0.0, 0.0, 6.0, 4.0, 125.0, 0.8, 2.0),
            (0.4, -0.3, 3.0, 1.6, 140.0, 1.0, 1.5),
            (-0.8, 0.6, 2.0, 0.8, 110.0, 0.6, 1.2),
            (0.0, 0.0, 0.6, 0.6, 0.0, 1.5, 1.0),
        ),
        line_fraction=0.85,
        texture=0.7,
        texture_scale_arcmin=0.4,
    ),
    "M31": Nebula(
        "M31",
        10.6847,
        41.2690,
        (
            (0.0, 0.0, 178.0, 63.0, 35.0, 0.15, 1.0),
            (0.0, 0.0, 40.0, 16.0, 38.0, 0.5, 1.0),
            (0.0, 0.0, 3.0, 2.0, 35.0, 4.0, 1.0),
            (-21.0, 34.0, 9.0, 6.0, 170.0, 0.4, 1.5),  # M110
            (6.0, -25.0, 3.0, 2.5, 0.0, 1.0, 1.5),  # M32
        ),
        line_fraction=0.05,
    ),
}


def sky_rate(sky_mag: float, zero_point_e: float, pixel_area_arcsec2: float) -> float:
    """Sky background in e-/s per pixel for a surface brightness in mag/arcsec^2."""
    return zero_point_e * 10 ** (-0.4 * sky_mag) * pixel_area_arcsec2
