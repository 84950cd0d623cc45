"""What operators read about a contact: her state, consents, enrollments, messages, timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.enrollments.schemas import JourneyName


class ConsentOut(BaseModel):
    """Consent and suppression on one channel."""

    channel: str
    status: str
    reason: str | None
    suppressed: bool
    suppression_reason: str | None
    updated_at: datetime


class EnrollmentOut(BaseModel):
    """Where the contact stands in one journey version."""

    id: str
    journey: JourneyName
    version: str
    stage: str
    status: str
    visit: int
    holdout: bool = Field(
        description="in the journey's holdout: she moves as everyone does, her messages are "
        "recorded as held and sent to no channel"
    )
    entered_at: datetime
    next_due_at: datetime | None
    started_at: datetime
    ended_at: datetime | None


class ContactOut(BaseModel):
    """A contact with consent and journey state."""

    id: str
    email: str | None
    phone: str | None
    external_id: str | None
    persona: str | None
    timezone: str | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    consents: list[ConsentOut]
    enrollments: list[EnrollmentOut]


class MessageOut(BaseModel):
    """One outbox row with its rendered parts."""

    id: str
    idempotency_key: str
    journey: JourneyName
    version: str
    stage: str
    visit: int
    channel: str
    template: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    subject: str | None
    preheader: str | None
    html: str | None
    text: str | None
    body: str | None
    provider_message_id: str | None
    delivery_status: str | None = Field(
        description="What the provider last reported: delivered, opened, clicked, bounced, ..."
    )
    error: str | None
    created_at: datetime


class TimelineEntry(BaseModel):
    """One line of a contact's history: an event, a move or a message."""

    at: datetime
    kind: str = Field(description="event, transition, note or message")
    summary: str
    data: dict[str, Any]
