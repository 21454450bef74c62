"""Offline sky-object names: 'M1', 'NGC 1952', 'Crab' -> J2000 (ra, dec) in degrees.

Catalogue designations (Messier, NGC, IC and the other OpenNGC identifiers) come from the
OpenNGC database bundled with ``pyongc``; a few everyday names are added here, and OpenNGC's own
common names ("Crab Nebula", "Whirlpool Galaxy"...) are searched last.
"""

from __future__ import annotations

import functools
import re

from astropy.coordinates import Angle

from september.errors import UnknownNameError

__all__ = ["COMMON_NAMES", "resolve_name"]

COMMON_NAMES: dict[str, str] = {
    "crab": "M1",
    "andromeda": "M31",
    "triangulum": "M33",
    "orion nebula": "M42",
    "pleiades": "M45",
    "seven sisters": "M45",
    "ring nebula": "M57",
    "dumbbell": "M27",
    "whirlpool": "M51",
    "lagoon": "M8",
    "eagle": "M16",
    "omega nebula": "M17",
    "trifid": "M20",
    "hercules cluster": "M13",
    "beehive": "M44",
    "bode's galaxy": "M81",
    "cigar galaxy": "M82",
    "pinwheel": "M101",
    "sombrero": "M104",
    "north america nebula": "NGC7000",
    "rosette": "NGC2237",
    "horsehead": "B33",
    "double cluster": "NGC869",
    "veil": "NGC6960",
    "helix": "NGC7293",
    "heart nebula": "IC1805",
    "soul nebula": "IC1848",
}
_SUFFIXES = ("", " nebula", " galaxy", " cluster")
# Dark nebulae such as the Horsehead (Barnard 33) are not in OpenNGC: J2000 positions.
_EXTRA_POSITIONS: dict[str, tuple[float, float]] = {"B33": (85.2458, -2.4583)}


def _normalise(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().lower())


def _from_ongc(identifier: str) -> tuple[float, float] | None:
    from pyongc import ongc

    try:
        dso = ongc.get(identifier)
    except Exception:  # pyongc raises its own errors for malformed identifiers
        return None
    if dso is None or not dso.ra or not dso.dec:
        return None
    return float(Angle(dso.ra, unit="hourangle").deg), float(Angle(dso.dec, unit="deg").deg)


@functools.cache
def _ongc_common_names() -> dict[str, str]:
    """OpenNGC's common names (lower case) -> catalogue name, read once."""
    from pyongc import ongc

    names: dict[str, str] = {}
    for dso in ongc.listObjects():
        for common in dso.identifiers[3] or ():
            names.setdefault(_normalise(common), dso.name)
    return names


def resolve_name(name: str) -> tuple[float, float]:
    """J2000 (ra, dec) in degrees of a named object, without network access.

    Raises UnknownNameError when neither OpenNGC nor the built-in names know it.
    """
    key = _normalise(name)
    if not key:
        raise UnknownNameError("an empty object name was given; try e.g. 'M1' or 'NGC 7000'.")
    identifier = COMMON_NAMES.get(key.removeprefix("the "), name.strip())
    compact = identifier.replace(" ", "").upper()
    if compact in _EXTRA_POSITIONS:
        return _EXTRA_POSITIONS[compact]
    found = _from_ongc(identifier)
    if found is None:
        common = _ongc_common_names()
        for suffix in _SUFFIXES:
            if key + suffix in common:
                found = _from_ongc(common[key + suffix])
                break
    if found is None:
        raise UnknownNameError(
            f"'{name}' is not a known object name (Messier, NGC, IC or a common name such as "
            "'Crab'); give the position with --ra and --dec instead."
        )
    return found
