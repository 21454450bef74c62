"""The clustering and calibration-matching rules on small hand-made cases (fast)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
from sklearn.metrics import adjusted_rand_score

from september.config import CalibrationConfig
from september.services.calibration_match import CalibrationFrame, match_calibration
from september.services.cluster import (
    cluster_pointings,
    field_groups,
    mean_position,
    target_name,
)


def test_mean_position_across_ra_zero() -> None:
    ra, dec = mean_position(np.array([359.9, 0.1]), np.array([10.0, 10.0]))
    assert abs((ra + 180) % 360 - 180) < 1e-9 and abs(dec - 10.0) < 1e-3


def test_mosaic_panels_separate_while_dithers_and_drift_stay_together() -> None:
    rng = np.random.default_rng(0)
    width, height, overlap = 1.91, 1.45, 0.3  # the tightest overlap users shoot
    labels, ra, dec = [], [], []
    for row in range(2):
        for col in range(3):
            d0 = 41.3 + (row - 0.5) * height * (1 - overlap)
            r0 = 10.7 + (col - 1) * width * (1 - overlap) / np.cos(np.radians(d0))
            n = 50
            drift = rng.normal(0, 0.04, (n, 2))  # nightly go-to error and dithers
            dec += list(d0 + drift[:, 1])
            ra += list(r0 + drift[:, 0] / np.cos(np.radians(d0)))
            labels += [row * 3 + col] * n
    found = cluster_pointings(np.array(ra), np.array(dec), 0.2 * height)
    assert adjusted_rand_score(labels, found) == 1.0


def test_clusters_across_ra_zero_and_near_the_pole() -> None:
    ra = np.array([359.95, 0.05, 359.98, 120.0, 300.0])
    dec = np.array([0.0, 0.01, -0.02, 89.95, 89.97])
    labels = cluster_pointings(ra, dec, 0.3)
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] != labels[0]  # 0.05 deg apart across the pole


def test_rigs_with_different_fields_are_not_mixed() -> None:
    width = np.array([1.91, 1.92, 1.90, 0.95, 0.96])
    height = np.array([1.45, 1.45, 1.44, 0.72, 0.72])
    groups = field_groups(width, height, 0.1)
    assert groups[0] == groups[1] == groups[2] != groups[3] == groups[4]


def test_target_name_is_the_majority_object_or_coordinates() -> None:
    assert target_name(["M31", "M31 ", "NGC 2244", None, ""], 10.7, 41.3) == "M31"
    assert target_name([None, ""], 83.63, -5.4) == "RA083.6-05.4"


NIGHT = datetime(2026, 12, 12, 22, 0, tzinfo=UTC)


def _frame(index: int, kind: str, **values: object) -> CalibrationFrame:
    base = CalibrationFrame(
        id=index,
        path=f"/share/{kind}_{index}.fits",
        frame_type=kind,
        camera="ZWO ASI1600MM",
        xbinning=1,
        ybinning=1,
        width=4656,
        height=3520,
        gain=100.0,
        offset=50.0,
        ccd_temp=-10.0,
        exposure=0.0,
        filter=None,
        date_obs=NIGHT,
    )
    return replace(base, **values)


def test_matching_prefers_exact_darks_and_names_its_reasons() -> None:
    light = _frame(0, "light", exposure=120.0, filter="Ha")
    library = [
        _frame(1, "bias"),
        _frame(2, "bias", offset=30.0),  # decoy: other offset
        _frame(3, "dark", exposure=120.0, ccd_temp=-10.3),
        _frame(4, "dark", exposure=120.0, ccd_temp=0.0),  # decoy: 10 degC warmer
        _frame(5, "dark", exposure=300.0),  # other exposure: only if no exact dark
        _frame(6, "flat", exposure=8.0, filter="Ha", date_obs=NIGHT + timedelta(hours=8)),
        _frame(7, "flat", exposure=8.0, filter="OIII"),  # decoy: other filter
        _frame(8, "flat", exposure=8.0, filter="Ha", date_obs=NIGHT - timedelta(days=9)),
        _frame(9, "dark", exposure=8.0, date_obs=NIGHT + timedelta(hours=8)),  # a flat-dark
    ]
    result = match_calibration(light, library, CalibrationConfig())
    assert result.usable, result.problems
    assert [f.id for f in result.matches["bias"].frames] == [1]
    assert [f.id for f in result.matches["dark"].frames] == [3]
    assert not result.matches["dark"].scaled
    assert [f.id for f in result.matches["flat"].frames] == [6]
    assert [f.id for f in result.matches["dark-flat"].frames] == [9]
    assert "gain" in result.matches["bias"].reason


def test_scaled_dark_needs_a_bias_and_missing_flats_are_reported() -> None:
    light = _frame(0, "light", exposure=120.0, filter="L")
    darks = [_frame(1, "dark", exposure=300.0)]
    scaled = match_calibration(light, [*darks, _frame(2, "bias")], CalibrationConfig())
    assert scaled.matches["dark"].scaled
    assert any("no flat for filter 'L'" in p for p in scaled.problems)
    without_bias = match_calibration(light, darks, CalibrationConfig())
    assert "dark" not in without_bias.matches
    assert any("no bias to scale" in p for p in without_bias.problems)
    assert not without_bias.usable
