"""The reference star catalogue (Gaia or the user's own) in PostgreSQL, so frames can be
cross-matched photometrically next to the rest of the catalogue.

Stars are loaded with binary ``COPY`` into a temporary staging table, then inserted with
``ON CONFLICT DO NOTHING``: loading the same source twice changes nothing. Cross-matching is
SQL only (``q3c_join`` on the indexed ``stars`` table); the pixel-to-sky maths happens before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from september.catalogue.models import Base
from september.sky.gaia import GAIA_DTYPE

__all__ = [
    "STAR_DTYPE",
    "LoadResult",
    "ReferenceStar",
    "cone",
    "crossmatch",
    "load_stars",
    "star_count",
    "user_source_ids",
]

STAR_DTYPE = GAIA_DTYPE
"""Rows handed to :func:`load_stars` (degrees, magnitudes, mas/yr; NaN for unknown motion)."""

COPY_CHUNK = 50_000  # rows per COPY round trip (one progress step)

_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # header: signature, flags, extension
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l_source_id", ">i4"),
        ("source_id", ">i8"),
        ("l_ra", ">i4"),
        ("ra", ">f8"),
        ("l_dec", ">i4"),
        ("dec", ">f8"),
        ("l_mag", ">i4"),
        ("mag", ">f4"),
        ("l_pmra", ">i4"),
        ("pmra", ">f4"),
        ("l_pmdec", ">i4"),
        ("pmdec", ">f4"),
    ]
)


class ReferenceStar(Base):
    """One catalogue star: J2000/ICRS position at the catalogue epoch, a G-band-like magnitude.

    ``source_id`` is Gaia's for Gaia stars; stars from a user file without ids get
    ``-(q3c_ang2ipix(ra, dec) + 1)``, negative and stable, so reloading the file is idempotent.
    ``origin`` names where the star came from (``gaia-bundled``, ``gaia-archive``, a file name).
    """

    __tablename__ = "stars"

    source_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    ra: Mapped[float] = mapped_column(sa.Double)
    dec: Mapped[float] = mapped_column(sa.Double)
    mag: Mapped[float] = mapped_column(sa.REAL)
    pmra: Mapped[float | None] = mapped_column(sa.REAL)
    pmdec: Mapped[float | None] = mapped_column(sa.REAL)
    origin: Mapped[str] = mapped_column(sa.Text)

    __table_args__ = (
        sa.Index("stars_q3c", sa.func.q3c_ang2ipix(sa.column("ra"), sa.column("dec"))),
        sa.Index("stars_mag", "mag"),
    )


@dataclass(frozen=True)
class LoadResult:
    """What a load did: rows read from the source and rows new to the table."""

    origin: str
    read: int
    inserted: int


def _copy_payload(rows: np.ndarray) -> bytes:
    """Rows in PostgreSQL's binary COPY format (fixed width: no NULLs, NaN stays NaN)."""
    out = np.empty(len(rows), dtype=_COPY_ROW)
    out["fields"] = 6
    for name, width in (("source_id", 8), ("ra", 8), ("dec", 8), ("mag", 4), ("pmra", 4)):
        out[f"l_{name}"] = width
        out[name] = rows[name]
    out["l_pmdec"] = 4
    out["pmdec"] = rows["pmdec"]
    return out.tobytes()


def user_source_ids(connection: Connection, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Stable negative ids for stars without one: ``-(q3c_ang2ipix(ra, dec) + 1)``."""
    result = connection.execute(
        sa.text(
            "SELECT -(q3c_ang2ipix(r, d) + 1) FROM unnest(CAST(:ra AS float8[]), "
            "CAST(:dec AS float8[])) WITH ORDINALITY AS t(r, d, n) ORDER BY n"
        ),
        {"ra": np.asarray(ra, float).tolist(), "dec": np.asarray(dec, float).tolist()},
    )
    return np.fromiter((row[0] for row in result), dtype=np.int64, count=len(ra))


def load_stars(
    connection: Connection,
    stars: np.ndarray,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
) -> LoadResult:
    """COPY ``stars`` (``STAR_DTYPE`` fields) into the ``stars`` table; existing ids are kept.

    ``progress(done, total)`` is called after each chunk. The table is re-clustered on its q3c
    index and analysed when rows were added. Runs in the caller's transaction.
    """
    total = len(stars)
    connection.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS stars_staging (source_id bigint, ra float8, "
        "dec float8, mag real, pmra real, pmdec real) ON COMMIT DROP"
    )
    connection.exec_driver_sql("TRUNCATE stars_staging")
    cursor = connection.connection.driver_connection.cursor()
    done = 0
    for start in range(0, total, COPY_CHUNK):
        chunk = stars[start : start + COPY_CHUNK]
        with cursor.copy("COPY stars_staging FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(_COPY_SIGNATURE + _copy_payload(chunk) + b"\xff\xff")
        done += len(chunk)
        if progress:
            progress(done, total)
    inserted = connection.execute(
        sa.text(
            "INSERT INTO stars (source_id, ra, dec, mag, pmra, pmdec, origin) "
            "SELECT DISTINCT ON (source_id) source_id, ra, dec, mag, "
            "NULLIF(pmra, 'NaN'::real), NULLIF(pmdec, 'NaN'::real), :origin "
            "FROM stars_staging WHERE mag = mag AND ra = ra AND dec = dec "
            "ORDER BY source_id ON CONFLICT (source_id) DO NOTHING"
        ),
        {"origin": origin},
    ).rowcount
    connection.exec_driver_sql("DROP TABLE stars_staging")
    if inserted:
        connection.exec_driver_sql("CLUSTER stars USING stars_q3c")
        connection.exec_driver_sql("ANALYZE stars")
    return LoadResult(origin=origin, read=total, inserted=int(inserted))


def star_count(connection: Connection, origin: str | None = None) -> int:
    """Number of catalogue stars, optionally only those from one origin."""
    query = "SELECT count(*) FROM stars" + (" WHERE origin = :origin" if origin else "")
    return int(connection.execute(sa.text(query), {"origin": origin}).scalar_one())


_CONE_SQL = sa.text(
    "SELECT source_id, ra, dec, mag, coalesce(pmra, 'NaN'), coalesce(pmdec, 'NaN') FROM stars "
    "WHERE q3c_radial_query(ra, dec, :ra, :dec, :radius) AND mag <= :mag_limit"
)


def cone(
    connection: Connection, ra: float, dec: float, radius: float, mag_limit: float = 99.0
) -> np.ndarray:
    """Catalogue stars within ``radius`` degrees of (ra, dec), as a ``STAR_DTYPE`` array."""
    rows = connection.execute(
        _CONE_SQL, {"ra": ra, "dec": dec, "radius": radius, "mag_limit": mag_limit}
    ).all()
    return np.array([tuple(row) for row in rows], dtype=STAR_DTYPE)


_CROSSMATCH_SQL = sa.text(
    """
    WITH detected AS MATERIALIZED (
        SELECT n::int AS n, r AS ra, d AS dec
        FROM unnest(CAST(:ra AS float8[]), CAST(:dec AS float8[])) WITH ORDINALITY AS t(r, d, n)
    )
    SELECT detected.n - 1, nearest.source_id, nearest.mag, nearest.separation
    FROM detected
    CROSS JOIN LATERAL (
        SELECT s.source_id, s.mag, q3c_dist(detected.ra, detected.dec, s.ra, s.dec) AS separation
        FROM stars AS s
        WHERE q3c_join(detected.ra, detected.dec, s.ra, s.dec, :radius) AND s.mag <= :mag_limit
        ORDER BY separation
        LIMIT 1
    ) AS nearest
    ORDER BY detected.n
    """
)
"""Nearest star per detection. A plain join of the CTE with ``stars`` gets a sequential-scan
plan; the LATERAL form makes one q3c index probe per detection."""

MATCH_DTYPE = np.dtype(
    [("index", "<i8"), ("source_id", "<i8"), ("mag", "<f4"), ("separation", "<f8")]
)


def crossmatch(
    connection: Connection,
    ra: Sequence[float] | np.ndarray,
    dec: Sequence[float] | np.ndarray,
    radius: float,
    mag_limit: float = 99.0,
) -> np.ndarray:
    """Nearest catalogue star within ``radius`` degrees of each position, in the database.

    Returns a ``MATCH_DTYPE`` array: ``index`` into the given positions, the star's id and
    magnitude, and the separation in degrees. Positions without a match are absent.
    """
    connection.exec_driver_sql("SET LOCAL jit = off")  # JIT compiling costs more than the join
    rows = connection.execute(
        _CROSSMATCH_SQL,
        {
            "ra": np.asarray(ra, float).tolist(),
            "dec": np.asarray(dec, float).tolist(),
            "radius": radius,
            "mag_limit": mag_limit,
        },
    ).all()
    return np.array([tuple(row) for row in rows], dtype=MATCH_DTYPE)


def origins(connection: Connection) -> Iterable[tuple[str, int]]:
    """(origin, star count) for every source loaded so far."""
    return connection.execute(
        sa.text("SELECT origin, count(*) FROM stars GROUP BY origin ORDER BY origin")
    ).all()
