"""The agent card: who is calling, for a call-center screen-pop, found by her phone number.

One compact read: her name and persona, where she stands in each journey and since when,
what the stage suggests doing next (its `recommend` list and `agent_note`), her latest
messages and clicks, and whether she may be emailed or texted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlmodel import Session

from service.catalog.registry import JourneyRegistry
from service.contacts import repository as contacts_repo
from service.contacts.phones import to_e164
from service.engine.core import Status
from service.engine.model import Stage
from service.enrollments import repository as enrollments_repo
from service.errors import InvalidInput, NotFound
from service.reads.recent import latest_events, latest_messages
from service.store.models import ConsentStatus, Contact, Enrollment

LATEST = 5
CHANNELS = ("email", "sms")


class CardStage(BaseModel):
    """One active journey: her stage, since when, and the suggested next step."""

    journey: str
    version: str
    stage: str
    description: str | None
    since: datetime
    next_due_at: datetime | None
    agent_note: str | None = Field(description="The stage's note for agents, if any")
    recommend: list[dict[str, Any]] = Field(description="What the stage recommends")


class CardMessage(BaseModel):
    """A recent message."""

    at: datetime
    journey: str
    stage: str
    channel: str
    subject: str | None
    status: str
    delivery_status: str | None


class CardClick(BaseModel):
    """A recent click on a link in one of our messages."""

    at: datetime
    link: str | None
    url: str | None
    journey: str | None


class CardConsent(BaseModel):
    """Whether she may be messaged on a channel, and why not."""

    channel: str
    allowed: bool
    reason: str | None


class AgentCard(BaseModel):
    """Everything an agent needs in the first seconds of a call."""

    contact_id: str
    name: str | None
    email: str | None
    phone: str | None
    persona: str | None
    timezone: str | None
    journeys: list[CardStage]
    latest_messages: list[CardMessage]
    latest_clicks: list[CardClick]
    consent: list[CardConsent]


def display_name(attributes: dict[str, Any]) -> str | None:
    """first_name and last_name, or name, as the shop's integration sent them."""
    parts = [attributes.get(k) for k in ("first_name", "last_name")]
    joined = " ".join(str(p) for p in parts if isinstance(p, str) and p.strip())
    named = attributes.get("name")
    return joined or (named if isinstance(named, str) and named else None)


def stage_of(
    journeys: JourneyRegistry, *, journey_id: str, version: str, stage: str
) -> Stage | None:
    """The stage definition an enrollment is in, from the version it runs on."""
    try:
        compiled = journeys.get(journey_id, version)
    except NotFound:
        return None
    return compiled.journey.stages.get(stage)


def active_stages(
    session: Session, journeys: JourneyRegistry, *, contact_id: str
) -> list[tuple[Enrollment, Stage | None]]:
    """Her active enrollments, oldest first, each with the stage it is in (None if unknown)."""
    return [
        (
            enrollment,
            stage_of(
                journeys,
                journey_id=enrollment.journey_id,
                version=enrollment.version,
                stage=enrollment.stage,
            ),
        )
        for enrollment in enrollments_repo.contact_enrollments(session, contact_id=contact_id)
        if enrollment.status == Status.ACTIVE
    ]


def _stages(session: Session, journeys: JourneyRegistry, contact: Contact) -> list[CardStage]:
    return [
        CardStage(
            journey=enrollment.journey_id,
            version=enrollment.version,
            stage=enrollment.stage,
            description=stage.description if stage else None,
            since=enrollment.entered_at,
            next_due_at=enrollment.next_due_at,
            agent_note=stage.agent_note if stage else None,
            recommend=list(stage.recommend) if stage else [],
        )
        for enrollment, stage in active_stages(session, journeys, contact_id=contact.id)
    ]


def _consent(session: Session, contact: Contact) -> list[CardConsent]:
    """Every channel she can be reached on; no consent row means allowed."""
    rows = {c.channel: c for c in contacts_repo.contact_consents(session, contact_id=contact.id)}
    answers = []
    for channel in CHANNELS:
        row = rows.get(channel)
        if row is not None and row.status == ConsentStatus.WITHDRAWN:
            answers.append(CardConsent(channel=channel, allowed=False, reason=row.reason))
        elif row is not None and row.suppressed:
            answers.append(
                CardConsent(channel=channel, allowed=False, reason=row.suppression_reason)
            )
        else:
            answers.append(CardConsent(channel=channel, allowed=True, reason=None))
    return answers


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def card(session: Session, journeys: JourneyRegistry, contact: Contact) -> AgentCard:
    """The agent card of one contact."""
    messages = latest_messages(session, contact_id=contact.id, limit=LATEST)
    clicks = latest_events(session, contact_id=contact.id, type="email.clicked", limit=LATEST)
    return AgentCard(
        contact_id=contact.id,
        name=display_name(contact.attributes),
        email=contact.email,
        phone=contact.phone,
        persona=contact.persona,
        timezone=contact.timezone,
        journeys=_stages(session, journeys, contact),
        latest_messages=[
            CardMessage(
                at=m.sent_at or m.due_at,
                journey=m.journey_id,
                stage=m.stage,
                channel=m.channel,
                subject=m.subject,
                status=m.status,
                delivery_status=m.delivery_status,
            )
            for m in messages
        ],
        latest_clicks=[
            CardClick(
                at=e.time,
                link=_text(e.properties.get("link")),
                url=_text(e.properties.get("url")),
                journey=e.journey_id or _text(e.properties.get("journey")),
            )
            for e in clicks
        ],
        consent=_consent(session, contact),
    )


def lookup_by_phone(
    session: Session, journeys: JourneyRegistry, *, phone: str, region: str | None
) -> AgentCard:
    """The card of whoever holds this number (E.164, or national in `region`)."""
    try:
        number = to_e164(phone, region=region)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="phone") from None
    contact = contacts_repo.find_contact(session, field="phone", value=number)
    if contact is None:
        raise NotFound(f"no contact with phone {number}")
    return card(session, journeys, contact)
