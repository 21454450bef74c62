"""Grading rules on arrays of per-frame metrics: absolute limits, then N.I.N.A. Target
Scheduler-like comparisons of each frame with its group (same target, filter, exposure, gain,
binning), plus the two group-level measurements grading needs: transparency against the best
frames of a rig (corrected for airmass) and the distance of each frame from its target's centre.

Reasons are short codes stored with the grade: ``unsolved``, ``off-target``, ``trailing``,
``transparency``, ``fwhm-arcsec``, ``eccentricity`` (absolute limits, in that order) and
``group:star_count``, ``group:hfr``, ``group:fwhm``, ``group:eccentricity`` (group rules, in that
order; only the first failing group rule is given). The first reason is *the* reason.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from september.config import GradeConfig
from september.stars.crossmatch import unit_vectors
from september.stars.quality import REFERENCE_QUANTILE

__all__ = [
    "GROUP_RULES",
    "FrameMetrics",
    "grade_frames",
    "off_target_distances",
    "transparencies",
]

GROUP_RULES: tuple[tuple[str, int], ...] = (
    ("star_count", -1),  # fewer stars is worse
    ("hfr", +1),
    ("fwhm", +1),
    ("eccentricity", +1),
)
"""Group rules in N.I.N.A.'s order, each with the sign of "worse"."""

MAD_TO_SIGMA = 1.4826
MIN_AIRMASS_SPAN = 0.15  # below this, no extinction slope is fitted
CLEAR_BAND = 0.1  # mag below the reference still counted as clear sky (the fit's inliers)
FIT_ITERATIONS = 5
MIN_FIT_FRAMES = 6  # frames needed to fit the extinction slope of a rig
CORE_NEIGHBOURS = 2  # frames with this many neighbours nearby define where a target is


@dataclass(frozen=True)
class FrameMetrics:
    """The per-frame numbers grading looks at (NaN where unknown), one entry per frame."""

    group: Sequence[Hashable]  # (target, filter, exposure, gain, binning) per frame
    solved: np.ndarray  # bool
    star_count: np.ndarray
    hfr: np.ndarray  # px
    fwhm: np.ndarray  # px
    eccentricity: np.ndarray
    fwhm_arcsec: np.ndarray
    trailing: np.ndarray
    transparency: np.ndarray
    off_target: np.ndarray  # fraction of the field radius


def _limit_reasons(m: FrameMetrics, i: int, config: GradeConfig) -> list[str]:
    if not m.solved[i]:
        return ["unsolved"]
    reasons = []
    if m.off_target[i] > config.max_off_target:
        reasons.append("off-target")
    if m.trailing[i] > config.max_trailing:
        reasons.append("trailing")
    if m.transparency[i] < config.min_transparency:
        reasons.append("transparency")
    if config.max_fwhm_arcsec > 0 and m.fwhm_arcsec[i] > config.max_fwhm_arcsec:
        reasons.append("fwhm-arcsec")
    if m.eccentricity[i] > config.max_eccentricity:
        reasons.append("eccentricity")
    return reasons


def _group_failure(
    values: dict[str, np.ndarray], members: np.ndarray, i: int, config: GradeConfig
) -> str | None:
    for name, worse in GROUP_RULES:
        column = values[name][members]
        column = column[np.isfinite(column)]
        if column.size < config.min_group or not np.isfinite(values[name][i]):
            continue
        median = np.median(column)
        spread = max(
            MAD_TO_SIGMA * np.median(np.abs(column - median)), config.min_spread * abs(median)
        )
        if worse * (values[name][i] - median) > config.k * spread:
            return f"group:{name}"
    return None


def grade_frames(m: FrameMetrics, config: GradeConfig) -> list[list[str]]:
    """Rejection reasons per frame (empty list: accepted).

    Absolute limits first; the frames that pass them form the groups' comparison sets, and each
    such frame is compared with its group (at least ``config.min_group`` frames) on star count,
    HFR, FWHM and eccentricity: beyond ``k`` robust spreads on the worse side rejects it.
    """
    n = len(m.group)
    reasons = [_limit_reasons(m, i, config) for i in range(n)]
    values = {name: np.asarray(getattr(m, name), float) for name, _ in GROUP_RULES}
    passed = np.array([not r for r in reasons])
    by_group: dict[Hashable, list[int]] = {}
    for i, key in enumerate(m.group):
        by_group.setdefault(key, []).append(i)
    for indices in by_group.values():
        members = np.array([i for i in indices if passed[i]], dtype=int)
        if members.size < config.min_group:
            continue
        for i in members:
            failure = _group_failure(values, members, int(i), config)
            if failure:
                reasons[i].append(failure)
    return reasons


def _reference_curve(zp: np.ndarray, air: np.ndarray) -> np.ndarray:
    """Zero point of clear frames as a function of airmass.

    Starting from the upper ``REFERENCE_QUANTILE`` of the zero points, frames within
    ``CLEAR_BAND`` mag of the reference count as clear; a straight line (the extinction) is
    fitted to them and the selection repeated. Clouds only ever dim, so they fall out of the
    band and do not bend the line. Too few clear frames or too small an airmass range: a
    constant reference.
    """
    good = np.isfinite(zp) & np.isfinite(air)
    if not good.any():
        values = zp[np.isfinite(zp)]
        level = np.quantile(values, REFERENCE_QUANTILE) if values.size else np.nan
        return np.full(zp.shape, level)
    centre = float(np.median(air[good]))
    x = np.where(np.isfinite(air), air, centre) - centre
    slope = 0.0
    level = float(np.quantile(zp[good], REFERENCE_QUANTILE))
    for _ in range(FIT_ITERATIONS):
        clear = good & (zp - (level + slope * x) > -CLEAR_BAND)
        if clear.sum() >= MIN_FIT_FRAMES and np.ptp(x[clear]) >= MIN_AIRMASS_SPAN:
            slope = float(np.clip(np.polyfit(x[clear], zp[clear], 1)[0], -1.0, 0.0))
        if clear.any():
            level = float(np.median(zp[clear] - slope * x[clear]))
    return level + slope * x


def transparencies(
    zero_points: np.ndarray, airmass: np.ndarray, rigs: Sequence[Hashable]
) -> np.ndarray:
    """Transparency of every frame: its flux relative to the best frames of the same rig
    (filter, camera, telescope, gain, binning) at the same airmass. NaN without a zero point."""
    zp = np.asarray(zero_points, float)
    air = np.asarray(airmass, float)
    out = np.full(zp.shape, np.nan)
    keys = list(rigs)
    for key in set(keys):
        index = np.array([i for i, k in enumerate(keys) if k == key])
        reference = _reference_curve(zp[index], air[index])
        out[index] = 10.0 ** (-0.4 * (reference - zp[index]))
    return out


def off_target_distances(
    ra: np.ndarray, dec: np.ndarray, radius: np.ndarray, link_fraction: float
) -> np.ndarray:
    """Distance (deg) of each solved frame from the centre of the nearest target pointing.

    Pointings are where frames gather: a frame with at least ``CORE_NEIGHBOURS`` others within
    ``link_fraction`` of its field radius is a core frame; linked core frames form one pointing
    (a target, or a mosaic panel) whose centre is their mean direction. NaN for unsolved frames
    (ra NaN) and when no pointing exists yet.
    """
    ra, dec, radius = (np.asarray(v, float) for v in (ra, dec, radius))
    out = np.full(ra.shape, np.nan)
    solved = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    if solved.size == 0:
        return out
    vectors = unit_vectors(ra[solved], dec[solved])
    link = np.radians(link_fraction * np.nanmedian(radius[solved]))
    tree = cKDTree(vectors)
    pairs = tree.query_pairs(2.0 * np.sin(link / 2.0), output_type="ndarray")
    neighbours = np.bincount(pairs.ravel(), minlength=solved.size)
    core = np.flatnonzero(neighbours >= CORE_NEIGHBOURS)
    if core.size == 0:  # no pointing anywhere yet: nothing to be off from
        return out
    core_pairs = pairs[np.isin(pairs[:, 0], core) & np.isin(pairs[:, 1], core)]
    from scipy.sparse import coo_matrix

    graph = coo_matrix(
        (np.ones(len(core_pairs)), (core_pairs[:, 0], core_pairs[:, 1])),
        shape=(solved.size, solved.size),
    )
    _, labels = connected_components(graph, directed=False)
    centres = []
    for label in np.unique(labels[core]):
        mean = vectors[core[labels[core] == label]].mean(axis=0)
        centres.append(mean / np.linalg.norm(mean))
    cosines = np.clip(vectors @ np.array(centres).T, -1.0, 1.0)
    out[solved] = np.degrees(np.arccos(cosines.max(axis=1)))
    return out
