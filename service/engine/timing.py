"""Clock arithmetic in the contact's timezone: send windows and attribute-relative dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Window(Protocol):
    """Local hours and weekdays as the clock reads them (a journey's `send_window`)."""

    @property
    def start(self) -> time: ...

    @property
    def end(self) -> time: ...

    @property
    def weekdays(self) -> list[str] | None: ...


class Offset(Protocol):
    """A signed wall-clock offset and an optional local time (an `at` trigger's moment)."""

    @property
    def offset(self) -> timedelta: ...

    @property
    def time(self) -> time | None: ...


def zone(name: str | None, default: str) -> ZoneInfo:
    """The contact's zone, or the default when missing or unknown."""
    for candidate in (name, default, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_valid_zone(name: str) -> bool:
    """True for an IANA zone name this machine knows; probing ZoneInfo instead would take a
    tzdata folder (`America`) or an over-long name for an OS error."""
    return name in _known_zones()


def local_moment(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC; a time skipped by DST moves forward by the gap, and a
    time that occurs twice (clocks going back) is its first occurrence."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_weekday(
    moment: datetime, weekdays: list[str], at: time, tz: ZoneInfo, *, inclusive: bool = False
) -> datetime:
    """The first local `at` on one of `weekdays` after `moment` (or at it, if `inclusive`)."""
    day = moment.astimezone(tz).date()
    for offset in range(8):
        candidate = day + timedelta(days=offset)
        if WEEKDAYS[candidate.weekday()] not in weekdays:
            continue
        fire = local_moment(candidate, at, tz)
        if fire > moment or (inclusive and fire == moment):
            return fire
    raise AssertionError("a weekday comes round within eight days")


def in_window(moment: datetime, window: Window, tz: ZoneInfo) -> bool:
    """Whether a UTC moment falls inside the window in the given zone."""
    local = moment.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    if window.start < window.end:
        inside = window.start <= now_t < window.end
        day = local.date()
    else:  # overnight window, e.g. 20:00-02:00 belongs to the day it starts
        inside = now_t >= window.start or now_t < window.end
        day = local.date() - timedelta(days=1) if now_t < window.end else local.date()
    return inside and (window.weekdays is None or WEEKDAYS[day.weekday()] in window.weekdays)


def next_allowed(moment: datetime, window: Window | None, tz: ZoneInfo) -> datetime:
    """The earliest moment at or after `moment` that the send window allows."""
    if window is None or in_window(moment, window, tz):
        return moment
    local_day = moment.astimezone(tz).date()
    for offset in range(-1, 9):
        start = local_moment(local_day + timedelta(days=offset), window.start, tz)
        if start >= moment and in_window(start, window, tz):
            return start
    raise ValueError("send window admits no time in the coming week")


def parse_date_value(value: object) -> date | datetime | None:
    """Read a contact attribute as a date or datetime; None when it is not one."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(value.strip()) == 10:
        return parsed.date()
    return parsed


def at_moment(spec: Offset, value: object, tz: ZoneInfo) -> datetime | None:
    """When an `at` trigger fires for this attribute value, or None if it is no date."""
    return count_from(value, spec.offset, spec.time, tz)


def count_from(value: object, offset: timedelta, at: time | None, tz: ZoneInfo) -> datetime | None:
    """A moment counted from a date or datetime value, or None if it is no date.

    A date counts from local midnight; the offset is wall-clock (so 30 days before stays at
    the same local hour across DST); `at` then sets the local time of day.
    """
    parsed = parse_date_value(value)
    if parsed is None:
        return None
    try:
        if isinstance(parsed, datetime):
            base = parsed.astimezone(tz) if parsed.tzinfo else parsed.replace(tzinfo=tz)
        else:
            base = datetime.combine(parsed, time(0, 0), tzinfo=tz)
        local = base + offset
        return local_moment(local.date(), at or local.time(), tz)
    except OverflowError:  # a date like 0001-01-01 with a negative offset: no such moment
        return None
