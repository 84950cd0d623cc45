"""The journey language as typed models: what a journeys/*.yaml file may say."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any, Literal

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from service.engine.durations import parse_duration
from service.engine.fields import (
    Strict,
    check_event_type,
    error_details,
    parse_time,
    parse_weekdays,
)
from service.engine.triggers import Trigger, parse_trigger, trigger_keys

Channel = Literal["email", "sms", "webhook"]
ReenterPolicy = Literal["never", "after_exit", "always"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class EventMatch(Strict):
    """An event type with an optional guard expression."""

    event: str
    when: str | None = None

    _check_type = field_validator("event")(check_event_type)


class Goal(EventMatch):
    """The conversion: counted, and by default the end of the enrollment; with `ends: false`
    she converts and goes on (post-purchase onboarding in the same journey)."""

    ends: bool = True


class Entry(EventMatch):
    """Which event enrols a contact, and whether she may enrol again."""

    reenter: ReenterPolicy = "never"


class Exit(Strict):
    """Events that take a contact out of the journey early."""

    events: list[EventMatch] = Field(default_factory=list)

    @field_validator("events", mode="before")
    @classmethod
    def _plain_types(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"event": item} if isinstance(item, str) else item for item in value]
        return value


class SendWindow(Strict):
    """Local hours (and optionally weekdays) in which messages may go out."""

    start: time
    end: time
    weekdays: list[str] | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any) -> time:
        return parse_time(value)

    @field_validator("weekdays", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[str] | None:
        return None if value is None else parse_weekdays(value)

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.start == self.end:
            raise ValueError("send_window start and end must differ")
        return self


class Send(Strict):
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


class Transition(Strict):
    """One way out of a stage: where to, exactly one trigger, and an optional guard."""

    to: str
    trigger: SerializeAsAny[Trigger]
    when: str | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _flat(cls, data: Any, handler: ModelWrapValidatorHandler[Transition]) -> Transition:
        """Journey files write the trigger's keys beside `to` and `when`: gather them."""
        if not isinstance(data, dict) or isinstance(data.get("trigger"), Trigger):
            return handler(data)
        keys = trigger_keys()
        rest = {key: value for key, value in data.items() if key not in keys and key != "trigger"}
        gathered = {key: value for key, value in data.items() if key in keys}
        try:
            made = handler({**rest, "trigger": gathered})
        except ValidationError as exc:
            errors = [_outside(error) for error in error_details(exc)]
        else:
            errors = []
        if "trigger" in data:  # the field, not a key journey files may write
            errors.append(
                InitErrorDetails(type="extra_forbidden", loc=("trigger",), input=data["trigger"])
            )
        if not errors:
            return made
        # Which trigger a way out has is only worth asking once its fields are right.
        if any(error.get("loc") for error in errors):
            errors = [error for error in errors if error.get("loc")]
        raise ValidationError.from_exception_data(cls.__name__, errors)

    @field_validator("trigger", mode="before")
    @classmethod
    def _kind(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_trigger(value, context=info.context) if isinstance(value, dict) else value

    @property
    def is_timer(self) -> bool:
        """Timers fire from the clock; event transitions fire from behaviour."""
        return self.trigger.is_timer

    def key(self) -> str:
        """The trigger as history records it: event:TYPE, after:5d or at:ATTRIBUTE-30d."""
        return self.trigger.key()

    def describe(self) -> str:
        """The trigger in a few words, for summaries and diagrams."""
        return self.trigger.describe() + (" (if)" if self.when else "")

    def summary(self) -> dict[str, Any]:
        """The way out as the journey detail shows it."""
        return {"to": self.to, **self.trigger.summary(self.when)}


def _outside(error: InitErrorDetails) -> InitErrorDetails:
    """An error of the gathered trigger, placed where the journey file wrote its keys."""
    loc = error.get("loc", ())
    return {**error, "loc": loc[1:]} if loc[:1] == ("trigger",) else error


class Branch(Strict):
    """One arm of a split: its share of the contacts and the stage it leads to."""

    weight: float
    to: str

    @field_validator("weight", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"weight must be a positive number, not {value!r}")
        return value


class Winner(Strict):
    """When a split's experiment may name a winning branch that every later contact takes."""

    after: timedelta
    metric: Literal["conversion"] = "conversion"

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> timedelta:
        return parse_duration(value)


class Stage(Strict):
    """A step of the journey: what it sends on entry and how a contact leaves it, or (a
    split) which branch she is routed down at once."""

    description: str | None = None
    send: Send | None = None
    on: list[Transition] = Field(default_factory=list)
    split: dict[str, Branch] | None = None
    winner: Winner | None = None
    final: bool = False
    recommend: list[dict[str, Any]] = Field(default_factory=list)
    agent_note: str | None = None  # what a call-center agent should do for her at this stage

    @field_validator("split")
    @classmethod
    def _branches(cls, value: dict[str, Branch] | None) -> dict[str, Branch] | None:
        if value is None:
            return None
        if len(value) < 2:
            raise ValueError("a split needs at least two branches")
        bad = [name for name in value if not _NAME.match(str(name))]
        if bad:
            raise ValueError(
                f"bad branch name {bad[0]!r}: use lower-case letters, digits, '-', '_'"
            )
        return value

    @model_validator(mode="after")
    def _final_has_no_exits(self) -> Stage:
        if self.final and self.on:
            raise ValueError("a final stage cannot have 'on' transitions")
        if self.split is not None:
            clash = [name for name, used in (("send", self.send), ("on", self.on)) if used]
            clash += ["final"] if self.final else []
            if clash:
                raise ValueError(f"a split stage routes at once: it cannot have '{clash[0]}'")
        if self.winner is not None and self.split is None:
            raise ValueError("'winner' applies to a split stage only")
        return self


class Attribution(Strict):
    """How far back an order looks for the message that earned it (last touch)."""

    window: timedelta = timedelta(days=5)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> timedelta:
        window = parse_duration(value)
        if not window:
            raise ValueError("the attribution window must be longer than zero")
        return window


def parse_share(value: Any, *, largest: float) -> float:
    """A share written as a percentage ('10%' or 10), as a fraction in [0, largest]."""
    text = value.strip().removesuffix("%").strip() if isinstance(value, str) else value
    try:
        percent = float(text) if not isinstance(text, bool) else None
    except (TypeError, ValueError):
        percent = None
    if percent is None or not 0 <= percent <= largest * 100:
        raise ValueError(
            f"bad share {value!r}: write a percentage from 0% to {largest * 100:g}% (e.g. '10%')"
        )
    return percent / 100


class SampleContact(Strict):
    """A realistic contact used by validate to render every template."""

    email: str | None = "sample@example.com"
    phone: str | None = "+15555550100"
    timezone: str | None = None
    persona: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Journey(Strict):
    """A whole journey file."""

    journey: str
    persona: str | None = None
    description: str | None = None
    version: str | None = None
    entry: Entry
    exit: Exit = Field(default_factory=Exit)
    goal: Goal | None = None
    send_window: SendWindow | None = None
    # The share of entrants who get no messages, so lift is measured against them.
    holdout: float = 0.0
    attribution: Attribution = Field(default_factory=Attribution)
    sample_contact: SampleContact = Field(default_factory=SampleContact)
    initial: str
    stages: dict[str, Stage]

    @field_validator("journey")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"bad journey id {value!r}: use lower-case letters, digits, '-', '_'")
        return value

    @field_validator("holdout", mode="before")
    @classmethod
    def _holdout(cls, value: Any) -> float:
        return parse_share(value, largest=0.5)

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
