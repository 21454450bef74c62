"""The reference star table: idempotent COPY loading, q3c cones and the in-database cross-match
agree with the in-memory KD-tree."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from september.catalogue import reference_stars as rs
from september.catalogue.database import engine_for
from september.stars.crossmatch import match_sky


def _stars(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stars = np.zeros(n, rs.STAR_DTYPE)
    stars["source_id"] = np.arange(1, n + 1) * 1000
    stars["ra"] = 83.0 + rng.uniform(-2, 2, n)
    stars["dec"] = 22.0 + rng.uniform(-2, 2, n)
    stars["mag"] = rng.uniform(4, 10, n)
    stars["pmra"] = np.where(rng.uniform(size=n) < 0.1, np.nan, rng.normal(0, 5, n))
    stars["pmdec"] = rng.normal(0, 5, n)
    return stars


def test_load_is_idempotent_and_reports_progress(database_url: str) -> None:
    stars = _stars(120_000)
    calls: list[tuple[int, int]] = []
    engine = engine_for(database_url)
    with engine.begin() as connection:
        first = rs.load_stars(connection, stars, "test", lambda d, t: calls.append((d, t)))
    with engine.begin() as connection:
        second = rs.load_stars(connection, stars, "test")
        nulls = connection.execute(sa.text("SELECT count(*) FROM stars WHERE pmra IS NULL"))
        null_count = nulls.scalar_one()
        assert rs.star_count(connection) == len(stars)
    assert (first.read, first.inserted) == (120_000, 120_000)
    assert second.inserted == 0
    assert calls[-1] == (120_000, 120_000) and len(calls) == 3
    assert null_count == np.isnan(stars["pmra"]).sum()


def test_cone_and_crossmatch_agree_with_the_kd_tree(database_url: str) -> None:
    stars = _stars(20_000)
    engine = engine_for(database_url)
    rng = np.random.default_rng(5)
    picked = rng.choice(len(stars), 500, replace=False)
    offset = rng.normal(0, 2.0 / 3600, (2, 500))  # ~2" scatter
    ra = np.concatenate([stars["ra"][picked] + offset[0], rng.uniform(80, 86, 100)])
    dec = np.concatenate([stars["dec"][picked] + offset[1], rng.uniform(19, 25, 100)])
    radius = 10.0 / 3600
    with engine.begin() as connection:
        rs.load_stars(connection, stars, "test")
        in_cone = rs.cone(connection, 83.0, 22.0, 1.0)
        matches = rs.crossmatch(connection, ra, dec, radius)
    distance = np.degrees(
        np.arccos(
            np.clip(
                np.sin(np.radians(stars["dec"])) * np.sin(np.radians(22.0))
                + np.cos(np.radians(stars["dec"]))
                * np.cos(np.radians(22.0))
                * np.cos(np.radians(stars["ra"] - 83.0)),
                -1,
                1,
            )
        )
    )
    assert len(in_cone) == np.count_nonzero(distance <= 1.0)
    index, cat_index, separation = match_sky(ra, dec, stars["ra"], stars["dec"], radius)
    assert np.array_equal(matches["index"], index)
    assert np.array_equal(matches["source_id"], stars["source_id"][cat_index])
    assert np.allclose(matches["separation"], separation, atol=1e-9)
    recovered = np.count_nonzero(
        matches["source_id"][matches["index"] < 500]
        == stars["source_id"][picked][matches["index"][matches["index"] < 500]]
    )
    assert recovered >= 495  # a few chance neighbours closer than the true star are allowed


def test_user_ids_are_negative_and_stable(database_url: str) -> None:
    with engine_for(database_url).begin() as connection:
        ids = rs.user_source_ids(connection, np.array([10.0, 10.0, 200.0]), np.array([5, 5, -30.0]))
    assert ids[0] == ids[1] and ids[0] != ids[2] and (ids < 0).all()


@pytest.mark.parametrize("ra", [0.0005, 359.9995])
def test_crossmatch_wraps_at_ra_zero(database_url: str, ra: float) -> None:
    stars = _stars(1)
    stars["ra"], stars["dec"] = 359.9999, 10.0
    with engine_for(database_url).begin() as connection:
        rs.load_stars(connection, stars, "test")
        matches = rs.crossmatch(connection, [ra], [10.0], 5.0 / 3600)
    assert len(matches) == 1
