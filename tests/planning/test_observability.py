"""Darkness, altitude and the Moon at the configured site, against known values."""

from __future__ import annotations

import warnings
from datetime import UTC, date

import pytest
from astroplan import Observer
from astropy.time import Time
from astropy.utils import iers

from september.sky import observability

GREENWICH = observability.site_location(51.4779, 0.0, 46.0)


def test_astronomical_darkness_agrees_with_astroplan_and_the_season() -> None:
    winter = observability.night_grid(date(2026, 12, 21), GREENWICH)
    with warnings.catch_warnings(), iers.conf.set_temp("auto_download", False):
        warnings.simplefilter("ignore")
        observer = Observer(location=GREENWICH)
        noon = Time("2026-12-21 12:00")
        dusk = observer.twilight_evening_astronomical(noon, which="next").to_datetime(UTC)
        dawn = observer.twilight_morning_astronomical(noon, which="next").to_datetime(UTC)
    # within the 5-minute sampling of september's grid (astroplan: 17:57 and 05:59 UTC)
    assert abs((winter.dusk - dusk).total_seconds()) <= 300
    assert abs((winter.dawn - dawn).total_seconds()) <= 300
    assert winter.hours == pytest.approx(12.0, abs=0.2)
    summer = observability.night_grid(date(2026, 6, 21), GREENWICH)
    assert summer.hours == 0 and summer.dusk is None  # no astronomical darkness in June


def test_altitude_peaks_at_the_meridian_altitude() -> None:
    night = observability.night_grid(date(2026, 10, 15), GREENWICH)
    alt = observability.altitude(10.6847, 41.269, night, GREENWICH)
    # M31 culminates at 90 - (51.478 - dec) with dec precessed from J2000 to 2026.8:
    # 41.269 + 26.8 yr x 20.04"/yr x cos(RA 10.68 deg) = 41.416, so 79.94 deg (no refraction)
    assert alt.max() == pytest.approx(79.94, abs=0.02)
    never = observability.observable(161.265, -59.685, night, GREENWICH, min_altitude=0)
    assert not never.any()
    circumpolar = observability.observable(37.95, 89.26, night, GREENWICH, min_altitude=30)
    assert circumpolar.all()  # Polaris region: up all night


def test_moon_separation_constraint() -> None:
    night = observability.night_grid(date(2026, 10, 26), GREENWICH)  # full Moon (Oct 26 2026)
    assert night.moon_illumination > 0.95
    moon = night.moon[len(night.times) // 2]
    near = observability.observable(
        moon.ra.deg, moon.dec.deg, night, GREENWICH, min_altitude=0, min_moon_separation=20
    )
    alone = observability.observable(moon.ra.deg, moon.dec.deg, night, GREENWICH, min_altitude=0)
    assert alone.sum() > near.sum()
    assert not near[len(night.times) // 2]
