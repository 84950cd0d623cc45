"""What a contact's pages show: finding her, her state and timeline, one sent message."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlmodel import Session

from service.contacts.phones import to_e164
from service.contacts.profile import contact_view
from service.delivery import outbox
from service.engine.render import sms_segments
from service.engine.state import Status
from service.enrollments import repository as enrollments_repo
from service.enrollments.unit import enrollment_state
from service.errors import InvalidInput, NotFound
from service.reads import contact as reads
from service.reads.schemas import EnrollmentOut
from service.runtime import Runtime
from service.store.models import Contact, Message
from service.ui import words

SEARCH_FIELDS = {"email": "Email", "phone": "Phone", "external_id": "External id"}


def find(session: Session, runtime: Runtime, *, by: str, query: str) -> Contact:
    """The contact holding an identifier, a phone number read as the lookup API reads it."""
    if by not in SEARCH_FIELDS:
        raise InvalidInput(f"search by one of {', '.join(SEARCH_FIELDS)}", field="by")
    value = query.strip()
    if not value or len(value) > 320:
        raise InvalidInput("enter what to search for (at most 320 characters)", field="q")
    if by == "phone":
        try:
            value = to_e164(value, region=runtime.settings.default_region)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="q") from None
    return reads.find_contact(
        session,
        email=value if by == "email" else None,
        phone=value if by == "phone" else None,
        external_id=value if by == "external_id" else None,
    )


class EnrollmentRow(EnrollmentOut):
    """One enrollment as the API shows it, with what her next timer will do and where she
    may be moved (both empty once it ended)."""

    next_step: str = ""
    stages: list[str] = Field(default_factory=list)


def _enrollments(session: Session, runtime: Runtime, contact: Contact) -> list[EnrollmentRow]:
    view = contact_view(contact)
    rows = []
    for enrollment in enrollments_repo.contact_enrollments(session, contact_id=contact.id):
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        row = EnrollmentRow.model_validate(enrollment, from_attributes=True)
        if enrollment.status == Status.ACTIVE:
            row.next_step = words.next_timer(compiled, enrollment_state(enrollment), view)
            row.stages = list(compiled.journey.stages)
        rows.append(row)
    return rows


def display_name(contact: Contact) -> str:
    """How pages name her: her first and last name, else an identifier."""
    attributes = contact.attributes
    parts = [str(attributes[k]) for k in ("first_name", "last_name") if attributes.get(k)]
    return " ".join(parts) or contact.email or contact.phone or contact.external_id or contact.id


def contact_page(session: Session, runtime: Runtime, contact_id: str) -> dict[str, Any]:
    """Her identifiers, attributes, consent, enrollments, timeline and what may be done."""
    contact = reads.require_contact(session, contact_id)
    state = reads.contact_out(session, contact)
    enrollments = _enrollments(session, runtime, contact)
    active = {row.journey for row in enrollments if row.status == Status.ACTIVE}
    return {
        "contact": state,
        "name": display_name(contact),
        "enrollments": enrollments,
        "timeline": reads.timeline(session, contact_id),
        "enrol_options": sorted(j for j in runtime.journeys.current if j not in active),
        "active_journeys": sorted(active),
    }


def contact_message(session: Session, contact_id: str, message_id: str) -> Message:
    """One of her messages; another contact's message is as good as absent."""
    message = outbox.get_message(session, message_id=message_id)
    if message is None or message.contact_id != contact_id:
        raise NotFound(f"no message {message_id!r} for this contact")
    return message


def message_page(session: Session, contact_id: str, message_id: str) -> dict[str, Any]:
    """A message as it was rendered: email subject, parts and status, or an SMS body with
    its encoding and segment count."""
    contact = reads.require_contact(session, contact_id)
    message = contact_message(session, contact_id, message_id)
    segments = sms_segments(message.body) if message.channel == "sms" and message.body else None
    return {
        "contact": contact,
        "name": display_name(contact),
        "message": reads.message_out(message),
        "segments": segments,
    }
