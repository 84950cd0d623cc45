"""Trigger kinds: what takes a contact out of a stage.

A kind is one `Trigger` subclass passed to `register`. Journey files name it by its `kind`
key (beside `to` and `when`); the loader, the engine, validate, diagrams and the journey
detail only ask the trigger, so none of them changes when a kind is added.
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import ValidationError, field_validator
from pydantic_core import InitErrorDetails

from service.engine.durations import format_duration, parse_duration
from service.engine.fields import Strict, check_event_type, error_details, parse_time
from service.engine.state import ContactView, EventView
from service.engine.timing import at_moment

IfPast = Literal["now", "skip"]
T = TypeVar("T", bound="Trigger")


class Trigger(Strict):
    """One kind of trigger: its YAML keys, its history label and when it fires."""

    kind: ClassVar[str]  # the YAML key that selects this kind, e.g. `after`
    options: ClassVar[tuple[str, ...]] = ()  # further YAML keys only this kind takes
    is_timer: ClassVar[bool] = True  # fires from the clock rather than from behaviour

    @abstractmethod
    def key(self) -> str:
        """The trigger as history records it, e.g. event:TYPE, after:5d, at:ATTRIBUTE-30d."""

    @abstractmethod
    def summary(self, when: str | None) -> dict[str, Any]:
        """Its fields in the journey detail, beside `to`; `when` is the way out's guard."""

    def describe(self) -> str:
        """The trigger in a few words, for summaries and diagrams."""
        kind, _, what = self.key().partition(":")
        return f"{kind} {what}"

    def fires_on(self, event: EventView) -> bool:
        """Whether this event (guards aside) is the trigger; timers never fire on events."""
        return False

    def moment(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """When the timer fires for a contact who entered the stage at `entered_at`; None
        when it will not (an event trigger, or no date to count from)."""
        return None

    def delay(self) -> timedelta | None:
        """A fixed wait from entering the stage, if the kind has one: a longer unguarded one
        in the same stage can never fire, which the loader reports."""
        return None

    def fires_on_entry(self) -> bool:
        """Whether it may fire the moment a contact enters, which a cycle must not allow."""
        return self.delay() == timedelta(0)

    def date_attributes(self) -> frozenset[str]:
        """Contact attributes it reads as dates, so they must hold dates."""
        return frozenset()


# Every kind journey files may use, by its `kind` key, in the order errors list them.
TRIGGERS: dict[str, type[Trigger]] = {}


def trigger_keys() -> set[str]:
    """Every key a way out may use for its trigger."""
    return {key for kind in TRIGGERS.values() for key in (kind.kind, *kind.options)}


def register(cls: type[T]) -> type[T]:
    """Make a trigger kind available to journey files; its keys must be its own."""
    clash = sorted(trigger_keys() & {cls.kind, *cls.options})
    if clash:
        raise ValueError(f"trigger key {clash[0]!r} is already taken")
    TRIGGERS[cls.kind] = cls
    return cls


def parse_trigger(data: dict[str, Any], *, context: Any = None) -> Trigger:
    """The one trigger a way out's keys name; bad values raise ValidationError, a missing,
    doubled or misplaced trigger raises ValueError."""
    # A trigger key left empty (`after:` or `after: null`) is no trigger.
    present = [name for name in TRIGGERS if data.get(name) is not None]
    stray = [
        (key, name)
        for name, kind in TRIGGERS.items()
        for key in kind.options
        if key in data and name not in present
    ]
    errors: list[InitErrorDetails] = []
    found: list[Trigger] = []
    for name in present:
        kind = TRIGGERS[name]
        try:
            found.append(kind.model_validate(_pick(data, name, *kind.options), context=context))
        except ValidationError as exc:
            errors.extend(error_details(exc))
    for key, name in stray:  # a bad value is reported as such, even where it is misplaced
        try:
            TRIGGERS[name].model_validate({key: data[key]}, context=context)
        except ValidationError as exc:
            errors.extend(e for e in error_details(exc) if e["loc"][:1] == (key,))
    if errors:
        raise ValidationError.from_exception_data("Trigger", errors)
    if len(found) != 1:
        raise ValueError(
            f"a transition needs exactly one trigger of {', '.join(TRIGGERS)}"
            f" (found {', '.join(present) or 'none'})"
        )
    if stray:
        key, name = stray[0]
        raise ValueError(f"'{key}' only applies to an '{name}' trigger")
    return found[0]


def _pick(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: data[key] for key in keys if key in data}


@register
class EventTrigger(Trigger):
    """A behaviour: `event: email.clicked`."""

    kind: ClassVar[str] = "event"
    is_timer: ClassVar[bool] = False

    event: str

    _check_type = field_validator("event")(check_event_type)

    def key(self) -> str:
        """`event:TYPE`."""
        return f"event:{self.event}"

    def describe(self) -> str:
        """The event type alone."""
        return self.event

    def summary(self, when: str | None) -> dict[str, Any]:
        """The event type and the guard."""
        return {"event": self.event, "when": when}

    def fires_on(self, event: EventView) -> bool:
        """Events of its type."""
        return event.type == self.event


@register
class AfterTrigger(Trigger):
    """A wait from entering the stage: `after: 5d`."""

    kind: ClassVar[str] = "after"

    after: timedelta

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> timedelta:
        return parse_duration(value)

    def key(self) -> str:
        """`after:5d`."""
        return f"after:{format_duration(self.after)}"

    def summary(self, when: str | None) -> dict[str, Any]:
        """The wait."""
        return {"after": format_duration(self.after)}

    def moment(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The wait after entering the stage."""
        return entered_at + self.after

    def delay(self) -> timedelta:
        """The wait itself."""
        return self.after


class At(Strict):
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
        return None if value is None else parse_time(value)


@register
class AtTrigger(Trigger):
    """A moment relative to a contact's date: `at: {attribute: wedding_date, offset: -30d}`;
    `if_past` says whether a moment already past on entry fires at once or never."""

    kind: ClassVar[str] = "at"
    options: ClassVar[tuple[str, ...]] = ("if_past",)

    at: At
    if_past: IfPast = "now"

    def key(self) -> str:
        """`at:ATTRIBUTE`, with its offset: at:wedding_date-30d."""
        offset = self.at.offset
        shown = format_duration(offset) if offset else ""
        return f"at:{self.at.attribute}{'+' if offset > timedelta(0) else ''}{shown}"

    def summary(self, when: str | None) -> dict[str, Any]:
        """The attribute, offset and time of day, and the past-moment policy."""
        return {
            "at": {
                "attribute": self.at.attribute,
                "offset": format_duration(self.at.offset),
                "time": self.at.time.strftime("%H:%M") if self.at.time else None,
            },
            "if_past": self.if_past,
        }

    def moment(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> datetime | None:
        """The moment from her date; one already past fires on entry, or never (skip)."""
        fire = at_moment(self.at, contact.attributes.get(self.at.attribute), tz)
        if fire is None:
            return None
        if self.if_past == "skip" and fire <= entered_at:
            return None  # past on entry (or the very moment that led back here)
        return max(fire, entered_at)

    def fires_on_entry(self) -> bool:
        """A date already past fires at once unless the policy is skip."""
        return self.if_past == "now"

    def date_attributes(self) -> frozenset[str]:
        """The attribute it counts from."""
        return frozenset({self.at.attribute})
