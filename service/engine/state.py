"""What the engine reads and decides, as plain frozen data: contacts, events, enrollments,
and the decisions callers persist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Status(StrEnum):
    """Lifecycle of one enrollment."""

    ACTIVE = "active"
    COMPLETED = "completed"  # reached a final stage
    CONVERTED = "converted"  # reached the goal
    EXITED = "exited"  # left early by an exit rule or an operator
    RESTARTED = "restarted"  # replaced by a new enrollment (reenter: always)


class Profile(Protocol):
    """What a contact view is read from: a stored contact, or a journey's sample contact."""

    @property
    def attributes(self) -> Mapping[str, Any]: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def persona(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


@dataclass(frozen=True)
class ContactView:
    """What the engine may know of a contact: plain data only."""

    id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    persona: str | None = None
    email: str | None = None
    phone: str | None = None

    @classmethod
    def of(cls, profile: Profile, *, id: str) -> ContactView:
        """A profile as the engine sees it, its attributes copied."""
        return cls(
            id=id,
            attributes=dict(profile.attributes),
            timezone=profile.timezone,
            persona=profile.persona,
            email=profile.email,
            phone=profile.phone,
        )

    def as_context(self) -> dict[str, Any]:
        """The `contact` seen by guards and templates."""
        return {
            "id": self.id,
            "attributes": dict(self.attributes),
            "timezone": self.timezone,
            "persona": self.persona,
            "email": self.email,
            "phone": self.phone,
        }


@dataclass(frozen=True)
class EventView:
    """A canonical event as the engine sees it."""

    type: str
    time: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    source: str = ""

    def as_context(self) -> dict[str, Any]:
        """The `event` seen by guards and templates."""
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time.isoformat(),
            "properties": dict(self.properties),
        }


@dataclass(frozen=True)
class EnrollmentState:
    """Where one contact stands in one journey version."""

    journey: str
    version: str
    stage: str
    status: Status
    entered_at: datetime
    visit: int = 1
    clock_checked_at: datetime | None = None
    holdout: bool = False  # in the journey's holdout: moves as everyone, messages are held


@dataclass(frozen=True)
class StageChange:
    """One recorded move, for history, timelines and analytics."""

    from_stage: str | None
    to_stage: str
    trigger: str
    at: datetime


@dataclass(frozen=True)
class MessageOrder:
    """A message the stage asks to send; due_at already honours the send window."""

    stage: str
    visit: int
    channel: str
    template: str
    due_at: datetime
    url: str | None = None
    event: EventView | None = None  # the behaviour that led here; None for timer moves


@dataclass(frozen=True)
class Decision:
    """Everything the caller must persist after one engine step."""

    state: EnrollmentState
    changes: tuple[StageChange, ...] = ()
    messages: tuple[MessageOrder, ...] = ()
    next_due_at: datetime | None = None
    notes: tuple[str, ...] = ()
