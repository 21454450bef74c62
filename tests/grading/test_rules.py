"""Grading rules and quality metrics on arrays with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from september.config import GradeConfig
from september.stars import quality
from september.stars.grading import (
    FrameMetrics,
    grade_frames,
    off_target_distances,
    transparencies,
)


def _metrics(n: int, rng: np.random.Generator, **changes: np.ndarray) -> FrameMetrics:
    values = dict(
        group=[("M1", "L", 120.0, 100, 1)] * n,
        solved=np.ones(n, bool),
        star_count=rng.normal(500, 10, n),
        hfr=rng.normal(2.0, 0.03, n),
        fwhm=rng.normal(3.0, 0.05, n),
        eccentricity=rng.normal(0.4, 0.02, n),
        fwhm_arcsec=rng.normal(3.0, 0.05, n) * 1.5,
        trailing=rng.uniform(0, 0.05, n),
        transparency=rng.uniform(0.9, 1.0, n),
        off_target=rng.uniform(0, 0.05, n),
    )
    values.update(changes)
    return FrameMetrics(**values)


def test_group_rules_reject_in_nina_order_and_absolute_limits_first() -> None:
    rng = np.random.default_rng(1)
    m = _metrics(20, rng)
    m.star_count[3] = 200  # and a bad HFR: star count is checked first
    m.hfr[3] = 4.0
    m.fwhm[5] = 6.0
    m.eccentricity[7] = 0.9  # beyond the absolute limit too
    m.transparency[9] = 0.5
    m.solved[11] = False
    m.trailing[13] = 0.5
    m.star_count[15] = 700  # better than the group: accepted
    reasons = grade_frames(m, GradeConfig())
    assert reasons[3] == ["group:star_count"]
    assert reasons[5] == ["group:fwhm"]
    assert reasons[7] == ["eccentricity"]
    assert reasons[9] == ["transparency"]
    assert reasons[11] == ["unsolved"]
    assert reasons[13] == ["trailing"]
    rejected = {i for i, r in enumerate(reasons) if r}
    assert rejected == {3, 5, 7, 9, 11, 13}


def test_groups_below_the_minimum_size_skip_group_rules() -> None:
    rng = np.random.default_rng(2)
    m = _metrics(2, rng)
    m.fwhm[0] = 10.0
    assert grade_frames(m, GradeConfig()) == [[], []]


def test_transparency_is_relative_to_the_best_frames_at_the_same_airmass() -> None:
    rng = np.random.default_rng(3)
    n = 60
    air = np.linspace(1.1, 2.4, n)
    truth = np.where(rng.uniform(size=n) < 0.5, rng.uniform(0.1, 1.0, n), 1.0)
    zp = 22.0 - 0.16 * air + 2.5 * np.log10(truth) + rng.normal(0, 0.005, n)
    measured = transparencies(zp, air, ["L"] * n)
    assert np.max(np.abs(measured / truth - 1)) < 0.03


def test_off_target_frames_are_far_from_every_pointing() -> None:
    rng = np.random.default_rng(4)
    ra = np.concatenate([83.6 + rng.normal(0, 0.02, 12), 10.7 + rng.normal(0, 0.02, 8), [88.0]])
    dec = np.concatenate([22.0 + rng.normal(0, 0.02, 12), 41.3 + rng.normal(0, 0.02, 8), [25.0]])
    ra = np.append(ra, np.nan)
    dec = np.append(dec, np.nan)
    distance = off_target_distances(ra, dec, np.full(len(ra), 1.2), 0.25)
    assert np.all(distance[:20] < 0.1)
    assert distance[20] > 4.0
    assert np.isnan(distance[21])


def test_zero_point_transparency_and_limits() -> None:
    rng = np.random.default_rng(5)
    mag = rng.uniform(6, 10, 40)
    flux = 120.0 * 10 ** (-0.4 * (mag - 20.0)) * rng.normal(1, 0.01, 40)
    peak = flux / 1e4
    peak[:5] = 70000  # saturated: left out
    flux[:5] /= 3
    zp, used = quality.zero_point(flux, mag, 120.0, peak=peak, saturation=65535)
    assert used == 35 and zp == pytest.approx(20.0, abs=0.01)
    assert quality.transparency(19.5, 20.0) == pytest.approx(10**-0.2)
    limit = quality.limiting_magnitude(20.0, 120.0, 10.0, 3.0)
    sigma = 3.0 / quality.FWHM_PER_SIGMA
    flux_at_limit = 120.0 * 10 ** (0.4 * (20.0 - limit))
    assert flux_at_limit / (10.0 * math.sqrt(4 * math.pi * sigma**2)) == pytest.approx(5.0)
    assert quality.catalogue_fraction(np.array([5, 6, 7, 11.0]), np.array([5, 7.0]), 10) == (
        pytest.approx(2 / 3)
    )
    assert quality.off_target_deg(10, 0, 11, 0) == pytest.approx(1.0)


def test_trailing_indicator_separates_coherent_from_random_elongation() -> None:
    rng = np.random.default_rng(6)
    n = 200
    a = np.full(n, 2.0)
    b = np.full(n, 1.4)  # ellipticity 0.3
    random = quality.trailing_indicator(a, b, rng.uniform(-np.pi / 2, np.pi / 2, n))
    trailed = quality.trailing_indicator(a, b, 0.6 + rng.normal(0, 0.05, n))
    round_ = quality.trailing_indicator(a, a * 0.97, rng.uniform(-np.pi / 2, np.pi / 2, n))
    assert trailed == pytest.approx(0.3, abs=0.01)
    assert random < 0.06 and round_ < 0.01


def test_background_gradient_measures_a_plane() -> None:
    yy, xx = np.mgrid[0:100, 0:200]
    sky = 1000.0 + 0.5 * xx - 0.2 * yy
    assert quality.background_gradient(sky) == pytest.approx(0.5 * 199 + 0.2 * 99)


def test_decide_uses_pointings_and_the_requested_position() -> None:
    from datetime import UTC, datetime, timedelta

    from september.config import Config
    from september.services.grade import decide

    rng = np.random.default_rng(8)
    start = datetime(2026, 12, 12, 22, 0, tzinfo=UTC)

    def row(i: int, ra: float, dec: float, header: tuple[float, float] | None, obj: str) -> dict:
        return dict(
            id=i, ra=ra, dec=dec, radius_deg=1.2, date_obs=start + timedelta(minutes=2 * i),
            exposure=120.0, filter="L", camera="cam", telescope="scope", gain=100.0,
            xbinning=1, ybinning=1, object=obj, zero_point=18.1 + rng.normal(0, 0.01),
            solve_status="solved", star_count=1000 + rng.normal(0, 10), hfr=1.3, fwhm=1.65,
            eccentricity=0.25, fwhm_arcsec=19.5, trail_score=0.01, grade_override=None,
            header_ra=header[0] if header else None, header_dec=header[1] if header else None,
        )  # fmt: skip

    rows = [row(i, 83.63 + rng.normal(0, 0.01), 22.01, (83.63, 22.01), "M1") for i in range(10)]
    rows.append(row(10, 83.84, 22.0 - 0.03, (83.84, 21.98), "M42"))  # a new target, 2 frames
    rows.append(row(11, 83.84, 22.0 - 0.03, None, "M42"))  # no header pointing: still near M1
    rows.append(row(12, 88.0, 25.0, (83.63, 22.01), "M1"))  # 5 deg from where it was sent
    rows.append(row(13, 120.0, 40.0, (120.0, 40.0), "NGC 2683"))  # new, alone, where asked
    rows.append(row(14, 83.63, 22.01, (83.63, 22.01), "M1"))
    rows[14]["solve_status"], rows[14]["ra"], rows[14]["dec"] = "failed", None, None
    out = {r["id"]: r for r in decide(rows, Config())}
    assert all(out[i]["grade"] == "accepted" for i in (*range(12), 13)), out
    assert out[12]["grade_reasons"] == ["off-target"] and out[12]["off_target_deg"] > 4
    assert out[14]["grade_reasons"] == ["unsolved"]
