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
from service.engine.fields import Strict, check_event_type, error_details
from service.engine.state import ContactView, EventView

IfPast = Literal["now", "skip"]
T = TypeVar("T", bound="Trigger")


class Trigger(Strict):
    """One kind of trigger: its YAML keys, its history label and when it fires."""

    kind: ClassVar[str]  # the YAML key that selects this kind, e.g. `after`
    options: ClassVar[tuple[str, ...]] = ()  # further YAML keys only this kind takes
    # A kind written in several forms (`at: {attribute: ...}`, `at: {weekday: ...}`) has one
    # class per form, chosen by the key its mapping holds.
    form: ClassVar[str | None] = None
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

    def event_type(self) -> str | None:
        """The event type it fires on, so an event of another type skips the journey."""
        return None

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

    def skip_reason(self, entered_at: datetime, contact: ContactView, tz: ZoneInfo) -> str | None:
        """Why a timer that would fire will not, for a note (e.g. its window is over)."""
        return None


# Every kind journey files may use, by its `kind` key, in the order errors list them.
TRIGGERS: dict[str, type[Trigger]] = {}
# The forms of each kind that has several, by the key that selects them.
FORMS: dict[str, dict[str, type[Trigger]]] = {}


def trigger_keys() -> set[str]:
    """Every key a way out may use for its trigger."""
    return {key for kind in TRIGGERS.values() for key in (kind.kind, *kind.options)}


def register(cls: type[T]) -> type[T]:
    """Make a trigger kind (or another form of a kind) available to journey files; a kind's
    keys must be its own, and the forms of one kind take the same options."""
    forms = FORMS.get(cls.kind)
    if forms is not None:
        if cls.form is None or cls.form in forms:
            raise ValueError(f"trigger '{cls.kind}' already has a form {cls.form!r}")
        if cls.options != TRIGGERS[cls.kind].options:
            raise ValueError(f"the forms of trigger '{cls.kind}' must take the same options")
        forms[cls.form] = cls
        return cls
    clash = sorted(trigger_keys() & {cls.kind, *cls.options})
    if clash:
        raise ValueError(f"trigger key {clash[0]!r} is already taken")
    TRIGGERS[cls.kind] = cls
    if cls.form is not None:
        FORMS[cls.kind] = {cls.form: cls}
    return cls


def _form_of(name: str, value: Any) -> type[Trigger]:
    """The class that reads this value of a kind's key: the form its mapping names."""
    forms = FORMS.get(name)
    if not forms or not isinstance(value, dict):
        return TRIGGERS[name]
    chosen = [key for key in forms if key in value]
    if len(chosen) > 1:
        raise ValueError(f"'{name}' takes one of {', '.join(forms)} (found {', '.join(chosen)})")
    return forms[chosen[0]] if chosen else TRIGGERS[name]


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
        kind = _form_of(name, data[name])
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

    def event_type(self) -> str | None:
        """Its type."""
        return self.event


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


# The calendar kind `at` lives in its own module; importing it registers it after these.
from service.engine import moments as _moments  # noqa: E402, F401
