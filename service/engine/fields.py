"""Validators shared by the journey language's models, so stages and triggers check alike."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails

from service.engine.durations import parse_duration
from service.engine.events import event_type_problem
from service.engine.timing import WEEKDAYS

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Strict(BaseModel):
    """Unknown fields are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_event_type(value: str, info: ValidationInfo) -> str:
    """An event type nurture knows; a version stored earlier keeps working even if its event
    types are no longer known."""
    known_only = not (info.context or {}).get("stored", False)
    problem = event_type_problem(value, known_only=known_only)
    if problem:
        raise ValueError(problem)
    return value


def parse_time(value: Any) -> time:
    """A local time of day written HH:MM."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as a sexagesimal number of minutes.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not re.match(r"^\d{1,2}:\d{2}$", value):
        raise ValueError(f"bad time {value!r}: expected HH:MM")
    hours, minutes = (int(p) for p in value.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad time {value!r}: out of range")
    return time(hours, minutes)


def parse_date(value: Any) -> date:
    """A calendar date written YYYY-MM-DD (YAML may already have read it as one)."""
    if isinstance(value, datetime):
        raise ValueError(f"bad date {value.isoformat()!r}: expected a date YYYY-MM-DD, no time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"bad date {value!r}: expected YYYY-MM-DD")


def parse_weekdays(value: Any) -> list[str]:
    """One weekday or a list of them, as mon..sun (longer names are cut to three letters)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(d, str) for d in items):
        raise ValueError(f"bad weekday {value!r}: use mon, tue, wed, thu, fri, sat or sun")
    days = [d.lower()[:3] for d in items]
    bad = [d for d, short in zip(items, days, strict=True) if short not in WEEKDAYS]
    if bad:
        raise ValueError(f"unknown weekday {bad[0]!r}: use mon, tue, wed, thu, fri, sat, sun")
    if not days:
        raise ValueError("weekdays must name at least one day")
    return days


def parse_bound(value: Any) -> timedelta | date:
    """A window bound: a signed duration from the trigger's own date, or a date."""
    if isinstance(value, date) or (isinstance(value, str) and _DATE.match(value.strip())):
        return parse_date(value)
    try:
        return parse_duration(value, allow_negative=True)
    except ValueError:
        raise ValueError(
            f"bad window bound {value!r}: use a signed duration like '-30d' or a date YYYY-MM-DD"
        ) from None


def error_details(exc: ValidationError) -> list[InitErrorDetails]:
    """A validation error's details, to raise again together with others."""
    return [
        InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
        for e in exc.errors()
    ]
