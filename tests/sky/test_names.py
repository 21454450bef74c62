"""Offline name resolution against positions known independently (J2000, degrees)."""

from __future__ import annotations

import pytest
from astropy.coordinates import SkyCoord

from september.errors import UnknownNameError
from september.sky.names import resolve_name

KNOWN = {  # SIMBAD J2000 positions
    "M1": (83.6331, 22.0145),
    "m 1": (83.6331, 22.0145),
    "NGC 1952": (83.6331, 22.0145),
    "Crab": (83.6331, 22.0145),
    "Andromeda": (10.6847, 41.2690),
    "Orion Nebula": (83.8221, -5.3911),
    "Pleiades": (56.75, 24.1167),
    "NGC 7000": (314.75, 44.5),
    "Whirlpool Galaxy": (202.4696, 47.1952),
    "Horsehead": (85.2458, -2.4583),
}


@pytest.mark.parametrize(("name", "position"), KNOWN.items())
def test_names_resolve_within_a_few_arcminutes(name: str, position: tuple[float, float]) -> None:
    ra, dec = resolve_name(name)
    error = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(*position, unit="deg")).arcmin
    assert error < 30 if name in ("NGC 7000", "Pleiades") else error < 2


@pytest.mark.parametrize("name", ["", "Planet X", "NGC 99999"])
def test_unknown_names_raise_with_advice(name: str) -> None:
    with pytest.raises(UnknownNameError, match="--ra" if name else "empty"):
        resolve_name(name)
