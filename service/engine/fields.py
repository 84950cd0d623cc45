"""Validators shared by the journey language's models, so stages and triggers check alike."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails

from service.engine.events import event_type_problem


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


def error_details(exc: ValidationError) -> list[InitErrorDetails]:
    """A validation error's details, to raise again together with others."""
    return [
        InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"], ctx=e.get("ctx", {}))
        for e in exc.errors()
    ]
