"""The journey language as typed models: what a journeys/*.yaml file may say."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from service.engine.durations import format_duration, parse_duration
from service.engine.events import event_type_problem

Channel = Literal["email", "sms", "webhook"]
ReenterPolicy = Literal["never", "after_exit", "always"]
IfPast = Literal["now", "skip"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class _Strict(BaseModel):
    """Unknown fields are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_event_type(value: str, info: ValidationInfo) -> str:
    # A version stored earlier keeps working even if its event types are no longer known.
    known_only = not (info.context or {}).get("stored", False)
    problem = event_type_problem(value, known_only=known_only)
    if problem:
        raise ValueError(problem)
    return value


def _parse_time(value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as a sexagesimal number of minutes.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not re.match(r"^\d{1,2}:\d{2}$", value):
        raise ValueError(f"bad time {value!r}: expected HH:MM")
    hours, minutes = (int(p) for p in value.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad time {value!r}: out of range")
    return time(hours, minutes)


class EventMatch(_Strict):
    """An event type with an optional guard expression."""

    event: str
    when: str | None = None

    _check_type = field_validator("event")(_check_event_type)


class Entry(EventMatch):
    """Which event enrols a contact, and whether she may enrol again."""

    reenter: ReenterPolicy = "never"


class Exit(_Strict):
    """Events that take a contact out of the journey early."""

    events: list[EventMatch] = Field(default_factory=list)

    @field_validator("events", mode="before")
    @classmethod
    def _plain_types(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"event": item} if isinstance(item, str) else item for item in value]
        return value


class SendWindow(_Strict):
    """Local hours (and optionally weekdays) in which messages may go out."""

    start: time
    end: time
    weekdays: list[str] | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> time:
        return _parse_time(value)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        days = [d.lower()[:3] for d in value]
        bad = [d for d, short in zip(value, days, strict=True) if short not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}: use mon, tue, wed, thu, fri, sat, sun")
        if not days:
            raise ValueError("weekdays must name at least one day")
        return days

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.start == self.end:
            raise ValueError("send_window start and end must differ")
        return self


class Send(_Strict):
    """The one message a stage sends when a contact enters it."""

    channel: Channel
    template: str
    url: str | None = None

    @model_validator(mode="after")
    def _webhook_url(self) -> Send:
        if self.channel == "webhook" and not self.url:
            raise ValueError("a webhook send needs a 'url'")
        if self.channel != "webhook" and self.url:
            raise ValueError("'url' is only for channel: webhook")
        return self


class At(_Strict):
    """A point in time relative to a date held in a contact attribute."""

    attribute: str
    offset: timedelta = timedelta(0)
    time: Any = None

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> timedelta:
        return parse_duration(value, allow_negative=True)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return None if value is None else _parse_time(value)


class Transition(_Strict):
    """One way out of a stage; exactly one trigger: event, after or at."""

    to: str
    event: str | None = None
    when: str | None = None
    after: timedelta | None = None
    at: At | None = None
    if_past: IfPast = "now"

    @field_validator("event")
    @classmethod
    def _event(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_event_type(value, info)

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _one_trigger(self) -> Transition:
        triggers = [n for n in ("event", "after", "at") if getattr(self, n) is not None]
        if len(triggers) != 1:
            found = ", ".join(triggers) or "none"
            raise ValueError(
                f"a transition needs exactly one trigger of event, after, at (found {found})"
            )
        if "if_past" in self.model_fields_set and self.at is None:
            raise ValueError("'if_past' only applies to an 'at' trigger")
        return self

    @property
    def is_timer(self) -> bool:
        """Timers fire from the clock; event transitions fire from behaviour."""
        return self.event is None

    def key(self) -> str:
        """The trigger as history records it: event:TYPE, after:5d or at:ATTRIBUTE-30d."""
        if self.event is not None:
            return f"event:{self.event}"
        if self.after is not None:
            return f"after:{format_duration(self.after)}"
        assert self.at is not None  # exactly one trigger is set
        offset = self.at.offset
        shown = format_duration(offset) if offset else ""
        return f"at:{self.at.attribute}{'+' if offset > timedelta(0) else ''}{shown}"

    def describe(self) -> str:
        """The trigger in a few words, for summaries and diagrams."""
        kind, _, what = self.key().partition(":")
        text = what if kind == "event" else f"{kind} {what}"
        return text + (" (if)" if self.when else "")


class Stage(_Strict):
    """A step of the journey: what it sends on entry and how a contact leaves it."""

    description: str | None = None
    send: Send | None = None
    on: list[Transition] = Field(default_factory=list)
    final: bool = False
    recommend: list[dict[str, Any]] = Field(default_factory=list)
    agent_note: str | None = None  # what a call-center agent should do for her at this stage

    @model_validator(mode="after")
    def _final_has_no_exits(self) -> Stage:
        if self.final and self.on:
            raise ValueError("a final stage cannot have 'on' transitions")
        return self


class SampleContact(_Strict):
    """A realistic contact used by validate to render every template."""

    email: str | None = "sample@example.com"
    phone: str | None = "+15555550100"
    timezone: str | None = None
    persona: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Journey(_Strict):
    """A whole journey file."""

    journey: str
    persona: str | None = None
    description: str | None = None
    version: str | None = None
    entry: Entry
    exit: Exit = Field(default_factory=Exit)
    goal: EventMatch | None = None
    send_window: SendWindow | None = None
    sample_contact: SampleContact = Field(default_factory=SampleContact)
    initial: str
    stages: dict[str, Stage]

    @field_validator("journey")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"bad journey id {value!r}: use lower-case letters, digits, '-', '_'")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("stages")
    @classmethod
    def _some_stages(cls, value: dict[str, Stage]) -> dict[str, Stage]:
        if not value:
            raise ValueError("a journey needs at least one stage")
        return value
