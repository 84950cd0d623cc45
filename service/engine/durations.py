"""Durations as marketers write them: 30s, 10m, 2h, 5d, 2w (signed for offsets)."""

from __future__ import annotations

import re
from datetime import timedelta

_PATTERN = re.compile(r"^\s*([+-])?\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str | int, *, allow_negative: bool = False) -> timedelta:
    """Parse one duration; raises ValueError naming the accepted forms."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"duration must be text like '5d', not {text!r}")
    match = _PATTERN.match(str(text)) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"bad duration {text!r}: use a whole number and a unit s, m, h, d or w (e.g. '5d')"
        )
    sign, amount, unit = match.groups()
    if sign == "-" and not allow_negative:
        raise ValueError(f"bad duration {text!r}: must not be negative")
    delta = timedelta(**{_UNITS[unit]: int(amount)})
    return -delta if sign == "-" else delta


def format_duration(delta: timedelta) -> str:
    """Render a timedelta back in the shortest exact unit, for summaries and timelines."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"
