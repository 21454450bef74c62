"""When a patch of sky can be imaged from the site: astronomical darkness, altitude over the
night, and the Moon, sampled on a regular time grid so that time can be shared out in slots.

Functions take coordinates, times and the site only. Everything runs offline: astropy's bundled
Earth-orientation tables are used without trying to download newer ones (the sub-arcsecond
difference is irrelevant for altitude limits).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import astropy.units as u
import numpy as np
from astroplan import moon_illumination
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body, get_sun
from astropy.time import Time
from astropy.utils import iers

__all__ = ["Night", "altitude", "moon_separation", "night_grid", "observable", "site_location"]

TWILIGHT_SUN_ALTITUDE = -18.0  # degrees: astronomical twilight
STEP_MINUTES = 5.0  # sampling of the night


def site_location(latitude: float, longitude: float, elevation: float) -> EarthLocation:
    """An astropy location from degrees north, degrees east and metres."""
    return EarthLocation(lat=latitude * u.deg, lon=longitude * u.deg, height=elevation * u.m)


def _offline() -> object:
    return iers.conf.set_temp("auto_download", False)


@dataclass(frozen=True)
class Night:
    """The dark part of one night, sampled every ``step`` minutes at the centres of the slots.

    ``times`` is empty when the Sun never gets below -18 degrees (a summer night at high
    latitude). ``moon_altitude`` is in degrees, ``moon_illumination`` is 0..1 at mid-night.
    """

    date: date  # the local calendar date of the evening
    times: Time
    step: float  # minutes
    moon: SkyCoord | None
    moon_altitude: np.ndarray
    moon_illumination: float

    @property
    def dusk(self) -> datetime | None:
        """End of evening astronomical twilight (UTC), or None."""
        if not len(self.times):
            return None
        return (self.times[0] - self.step / 2 * u.min).to_datetime(UTC)

    @property
    def dawn(self) -> datetime | None:
        """Start of morning astronomical twilight (UTC), or None."""
        if not len(self.times):
            return None
        end = self.times[-1] + self.step / 2 * u.min
        return end.to_datetime(UTC)

    @property
    def hours(self) -> float:
        """Length of astronomical darkness in hours."""
        return len(self.times) * self.step / 60.0


def night_grid(evening: date, location: EarthLocation, step_minutes: float = STEP_MINUTES) -> Night:
    """Astronomical darkness of the night that starts on the local evening of ``evening``."""
    # Local noon, from the longitude: the search window runs noon to noon.
    noon = datetime(evening.year, evening.month, evening.day, 12, tzinfo=UTC)
    noon -= timedelta(hours=float(location.lon.to_value(u.deg)) / 15.0)
    samples = round(24 * 60 / step_minutes)
    grid = Time(noon) + (np.arange(samples) + 0.5) * step_minutes * u.min
    with _offline(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = AltAz(obstime=grid, location=location)
        sun_alt = get_sun(grid).transform_to(frame).alt.deg
        dark = sun_alt < TWILIGHT_SUN_ALTITUDE
        times = grid[dark]
        if not len(times):
            return Night(evening, times, step_minutes, None, np.zeros(0), 0.0)
        moon = get_body("moon", times, location)
        moon_alt = moon.transform_to(AltAz(obstime=times, location=location)).alt.deg
        illumination = float(moon_illumination(times[len(times) // 2]))
    return Night(evening, times, step_minutes, moon, moon_alt, illumination)


def altitude(ra: float, dec: float, night: Night, location: EarthLocation) -> np.ndarray:
    """Altitude (degrees) of a J2000 position at every sample of the night."""
    if not len(night.times):
        return np.zeros(0)
    with _offline(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coord = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
        return coord.transform_to(AltAz(obstime=night.times, location=location)).alt.deg


def moon_separation(ra: float, dec: float, night: Night) -> np.ndarray:
    """Angular distance (degrees) from the Moon at every sample of the night."""
    if night.moon is None:
        return np.zeros(0)
    with _offline(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coord = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
        return night.moon.separation(coord).deg


def observable(
    ra: float,
    dec: float,
    night: Night,
    location: EarthLocation,
    min_altitude: float,
    min_moon_separation: float = 0.0,
) -> np.ndarray:
    """Per sample: dark, above ``min_altitude`` and, when the Moon is up, at least
    ``min_moon_separation`` degrees from it."""
    if not len(night.times):
        return np.zeros(0, dtype=bool)
    ok = altitude(ra, dec, night, location) >= min_altitude
    if min_moon_separation > 0:
        far = moon_separation(ra, dec, night) >= min_moon_separation
        ok &= far | (night.moon_altitude < 0)
    return ok
