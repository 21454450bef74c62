"""Option values shared by several commands: angles and dates as users type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click


def angle(value: str | None, *, hours: bool) -> float | None:
    """Degrees from '83.6', '83d36m', '5h34m31.9s' or '05:34:31.9' (RA colons mean hours)."""
    if value is None:
        return None
    from astropy.coordinates import Angle

    text = value.strip()
    try:
        float(text)
    except ValueError:
        pass
    else:
        return float(text)
    try:
        if hours and (":" in text or " " in text):
            return float(Angle(text, unit="hourangle").deg)
        return float(Angle(text, unit="deg").deg)
    except (ValueError, TypeError) as err:
        raise click.BadParameter(f"{value!r} is not an angle (e.g. 83.6 or 05:34:32)") from err


def when(value: str | None, *, end: bool) -> datetime | None:
    """A UTC datetime from an ISO date or date-time; a bare ``--until`` date includes that day."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not a date (use YYYY-MM-DD[THH:MM])") from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and len(value.strip()) <= 10:
        parsed += timedelta(days=1)
    return parsed
