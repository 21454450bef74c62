"""Grade: measure each new light frame's quality against the reference star catalogue, then
accept or reject every light frame by absolute limits and N.I.N.A.-like group rules.

Measuring (re-reading the frame, photometry, cross-match) happens once per frame, or for all
frames with ``regrade=True``; deciding is cheap and always covers every light frame, so a changed
``[grade]`` configuration takes effect on the next run. Manual overrides always win.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from september.catalogue import grades, reference_stars
from september.config import Config, GradeConfig
from september.errors import BadFrameError

__all__ = ["GradeSummary", "decide", "grade", "grade_for_nightly", "measure_frame", "override"]

CONE_MARGIN = 1.05  # catalogue cone radius, in field radii
EDGE_MARGIN_PX = 3.0  # catalogue stars this close to the edge are not "expected"
PHOTOMETRY_FLAGS = 1 | 2 | 4  # blended, saturated, edge: not used for the zero point
SHAPE_FLAGS = 1 | 2 | 4 | 8 | 16  # only clean, fitted stars vote on trailing
PARALLEL_FROM = 8  # frames to measure before worker processes pay off ([ingest] workers)


@dataclass
class GradeSummary:
    """What a grading run did."""

    measured: int = 0
    graded: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # first reason -> frames
    catalogue_stars: int = 0
    catalogue_loaded: bool = False  # the empty reference catalogue was filled from Gaia first

    def rows(self) -> list[tuple[str, int]]:
        lines = [
            ("frames measured", self.measured),
            ("frames graded", self.graded),
            ("accepted", self.accepted),
            ("rejected", self.rejected),
        ]
        lines += [(f"rejected: {r}", n) for r, n in sorted(self.reasons.items())]
        if self.catalogue_loaded:
            lines.insert(0, ("reference stars loaded (bundled Gaia)", self.catalogue_stars))
        return lines


def _wcs(text: str) -> Any:
    import warnings

    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(fits.Header.fromstring(text, sep="\n" if "\n" in text else ""))


def measure_frame(
    row: Mapping[str, Any], catalogue: np.ndarray, config: GradeConfig
) -> dict[str, Any]:
    """Quality metrics of one solved light frame (``grades.METRIC_COLUMNS``).

    ``row`` is the frame's catalogue row, ``catalogue`` the reference stars around it
    (``reference_stars.STAR_DTYPE``), matched in memory: one cone plus a KD-tree beats a
    per-frame ``q3c_join`` (``bench/bench_catalog.py``). The frame is read again for photometry
    and star shapes; when the file is gone, the stored brightest detections are used (no
    trailing, no gradient).
    """
    from september.stars import quality
    from september.stars.crossmatch import match_sky

    scale = row["pixel_scale"]
    values: dict[str, Any] = {"fwhm_arcsec": quality.fwhm_arcsec(row["fwhm"], scale)}
    if row["solve_status"] != "solved" or not row["wcs"]:
        return values
    stars, data = _stars_of(row)
    fwhm = float(row["fwhm"] or np.nan)
    if data is not None:
        shape_ok = (stars["flag"] & SHAPE_FLAGS) == 0
        values["trail_score"] = _finite(
            quality.trailing_indicator(
                stars["a"][shape_ok], stars["b"][shape_ok], stars["theta"][shape_ok]
            )
        )
    wcs = _wcs(row["wcs"])
    ra, dec = wcs.all_pix2world(stars["x"], stars["y"], 0)
    index, cat_index, _ = match_sky(
        ra, dec, catalogue["ra"], catalogue["dec"], config.match_radius_px * scale / 3600.0
    )
    values["matched_stars"] = len(index)
    usable = (stars["flag"][index] & PHOTOMETRY_FLAGS) == 0
    if data is not None:
        photometry = quality.aperture_photometry(data, stars["x"][index], stars["y"][index], fwhm)
        flux = photometry.flux
        values["background_gradient"] = photometry.gradient
    else:
        flux = stars["flux"][index]
    exposure = float(row["exposure"] or np.nan)
    if data is not None:  # clipped stars the detector did not flag: peak near the image maximum
        level = float(np.max(data)) - float(row["background"] or 0.0)
        usable &= stars["peak"][index] < quality.SATURATION_FRACTION * level
    zp, _ = quality.zero_point(flux[usable], catalogue["mag"][cat_index][usable], exposure)
    noise = float(row["background_rms"] or np.nan)
    limit = quality.limiting_magnitude(zp, exposure, noise, fwhm)
    values.update(
        zero_point=_finite(zp),
        limiting_mag=_finite(limit),
        snr_weight=_finite(quality.snr_weight(zp, exposure, noise, fwhm)),
    )
    if len(catalogue):
        x, y = wcs.all_world2pix(catalogue["ra"], catalogue["dec"], 0)
        inside = (
            (x >= EDGE_MARGIN_PX)
            & (y >= EDGE_MARGIN_PX)
            & (x <= row["width"] - 1 - EDGE_MARGIN_PX)
            & (y <= row["height"] - 1 - EDGE_MARGIN_PX)
        )
        deepest = float(np.max(catalogue["mag"]))
        cut = min(deepest, limit - 1.0) if np.isfinite(limit) else deepest
        values["catalogue_fraction"] = _finite(
            quality.catalogue_fraction(catalogue["mag"][inside], catalogue["mag"][cat_index], cut)
        )
    return values


def _stars_of(row: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    """The frame's stars measured afresh (with the pixels), or the stored ones (without)."""
    from september.image.frames import read_frame
    from september.stars.measure import STAR_DTYPE, measure_stars

    try:
        frame = read_frame(row["path"])
    except (BadFrameError, OSError):
        from september.services.ingest import unpack_stars

        packed = unpack_stars(row["stars"] or b"")
        stars = np.zeros(len(packed), STAR_DTYPE)
        stars["x"], stars["y"], stars["flux"], stars["fwhm"] = packed.T
        return stars, None
    return measure_stars(frame.data).stars, frame.data


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _column(rows: list[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r[name] is None else float(r[name]) for r in rows], float)


def decide(rows: list[Mapping[str, Any]], config: Config) -> list[dict[str, Any]]:
    """Grades of all given light frames (``id``, ``grade``, ``grade_reasons``,
    ``transparency``, ``off_target_deg``), computed together."""
    from september.stars import quality
    from september.stars.grading import (
        FrameMetrics,
        grade_frames,
        off_target_distances,
        transparencies,
    )

    if not rows:
        return []
    ra, dec, radius = _column(rows, "ra"), _column(rows, "dec"), _column(rows, "radius_deg")
    off_deg = off_target_distances(ra, dec, radius, config.grade.max_off_target)
    # the pointing the capture program asked for also counts as an intended target: a new
    # target (too few frames for a pointing of its own) is not off target when it is there
    asked = quality.angular_distance(
        ra, dec, _column(rows, "header_ra"), _column(rows, "header_dec")
    )
    off_deg = np.where(np.isfinite(asked), np.fmin(off_deg, asked), off_deg)
    times = np.array(
        [
            r["date_obs"].timestamp() + (r["exposure"] or 0) / 2 if r["date_obs"] else np.nan
            for r in rows
        ]
    )
    air = quality.airmass(ra, dec, times, config.site.latitude, config.site.longitude)
    rigs = [(r["filter"], r["camera"], r["telescope"], r["gain"], r["xbinning"]) for r in rows]
    transparency = transparencies(_column(rows, "zero_point"), air, rigs)
    groups = [
        (
            (r["object"] or "").strip().lower(),
            r["filter"],
            r["exposure"],
            r["gain"],
            r["xbinning"],
            r["ybinning"],
        )
        for r in rows
    ]
    metrics = FrameMetrics(
        group=groups,
        solved=np.array([r["solve_status"] == "solved" for r in rows]),
        star_count=_column(rows, "star_count"),
        hfr=_column(rows, "hfr"),
        fwhm=_column(rows, "fwhm"),
        eccentricity=_column(rows, "eccentricity"),
        fwhm_arcsec=_column(rows, "fwhm_arcsec"),
        trailing=_column(rows, "trail_score"),
        transparency=transparency,
        off_target=off_deg / np.where(np.isfinite(radius) & (radius > 0), radius, np.nan),
    )
    reasons = grade_frames(metrics, config.grade)
    out = []
    for row, why, t, d in zip(rows, reasons, transparency, off_deg, strict=True):
        computed = "rejected" if why else "accepted"
        if row["grade_override"]:
            why = ["manual", *why]
        out.append(
            {
                "id": row["id"],
                "grade": row["grade_override"] or computed,
                "grade_reasons": why,
                "transparency": _finite(t),
                "off_target_deg": _finite(d),
            }
        )
    return out


def grade(
    config: Config,
    engine: sa.Engine,
    *,
    regrade: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> GradeSummary:
    """Measure the light frames that have no metrics yet (all with ``regrade``), then grade
    every light frame and store grades and reasons on their rows."""
    summary = GradeSummary()
    with engine.connect() as connection:
        rows = grades.light_frames(connection)
        summary.catalogue_stars = reference_stars.star_count(connection)
    pending = [r for r in rows if regrade or r["graded_at"] is None]
    if pending and summary.catalogue_stars == 0:
        from september.services.catalog import load_catalogue

        summary.catalogue_stars = load_catalogue(engine, "gaia-bundled").inserted
        summary.catalogue_loaded = True
    url = engine.url.render_as_string(hide_password=False)
    for done, (frame_id, values) in enumerate(
        _measured(url, [dict(r) for r in pending], config), 1
    ):
        with engine.begin() as connection:
            grades.store_metrics(connection, frame_id, values)
        summary.measured += 1
        if progress:
            progress(done, len(pending))
    with engine.begin() as connection:
        rows = grades.light_frames(connection, with_blobs=False)
        decided = decide(rows, config)
        summary.graded = grades.store_grades(connection, decided)
    for item in decided:
        if item["grade"] == "accepted":
            summary.accepted += 1
        else:
            summary.rejected += 1
            summary.reasons[item["grade_reasons"][0] if item["grade_reasons"] else "manual"] += 1
    return summary


def _measure_one(url: str, row: dict[str, Any], config: GradeConfig) -> tuple[int, dict]:
    """Measure one frame (in a worker process): its catalogue cone, then its metrics."""
    from september.catalogue.database import engine_for

    with engine_for(url).connect() as connection:
        catalogue = _catalogue_around(connection, row)
    return row["id"], measure_frame(row, catalogue, config)


def _measured(
    url: str, rows: list[dict[str, Any]], config: Config
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(frame id, metrics) of every row, in worker processes when there is enough work."""
    workers = max(1, config.ingest.workers)
    if workers == 1 or len(rows) < PARALLEL_FROM:
        for row in rows:
            yield _measure_one(url, row, config.grade)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_measure_one, url, row, config.grade) for row in rows]
        for future in as_completed(futures):
            yield future.result()


def _catalogue_around(connection: sa.Connection, row: Mapping[str, Any]) -> np.ndarray:
    if row["ra"] is None or row["radius_deg"] is None:
        return np.zeros(0, reference_stars.STAR_DTYPE)
    return reference_stars.cone(connection, row["ra"], row["dec"], row["radius_deg"] * CONE_MARGIN)


def grade_for_nightly(config: Config) -> str:
    """Grade what is new (for the nightly job); a one-line account."""
    from september.catalogue.database import connect_engine

    summary = grade(config, connect_engine(config))
    reasons = ", ".join(f"{n} {r}" for r, n in summary.reasons.most_common())
    return (
        f"{summary.measured} new frame(s) measured; {summary.accepted} accepted, "
        f"{summary.rejected} rejected" + (f" ({reasons})" if reasons else "")
    )


def override(engine: sa.Engine, frame_id: int, grade_value: str | None) -> None:
    """Set or clear (``None``) a frame's manual grade; it sticks across regrades."""
    with engine.begin() as connection:
        grades.set_override(connection, frame_id, grade_value)
