"""The read side for operators: a contact, her messages and her timeline."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel

from service.contacts import repository as contacts_repo
from service.delivery import outbox
from service.enrollments import repository as enrollments_repo
from service.errors import InvalidInput, NotFound
from service.reads.schemas import (
    ConsentOut,
    ContactOut,
    EnrollmentOut,
    MessageOut,
    TimelineEntry,
)
from service.schemas import MAX_PROPERTIES_DEPTH
from service.store.models import Contact, Message

# Same-moment entries read naturally in this order: what happened, what it did, what it sent.
_KIND_ORDER = {"event": 0, "transition": 1, "note": 2, "message": 3}
# The timeline's names for the row fields it renames; every other field keeps its own.
_TIMELINE_NAMES = {
    "event_id": "id",
    "journey_id": "journey",
    "from_stage": "from",
    "to_stage": "to",
}
_SURROGATE = re.compile(r"[\ud800-\udfff]")
CUT = "…"


def shown(value: Any, *, depth: int = 1) -> Any:
    """Stored JSON as an answer can carry it, whenever it was stored: nesting below the
    limit new events are held to is cut, and broken text gets U+FFFD, so no old history
    can make a contact unreadable."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict | list):
        if depth > MAX_PROPERTIES_DEPTH:
            return CUT
        if isinstance(value, list):
            return [shown(item, depth=depth + 1) for item in value]
        return {shown(k): shown(v, depth=depth + 1) for k, v in value.items()}
    return value


def require_contact(session: Session, contact_id: str) -> Contact:
    """The contact, or NotFound."""
    contact = contacts_repo.get_contact(session, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    return contact


def find_contact(
    session: Session, *, email: str | None, phone: str | None, external_id: str | None
) -> Contact:
    """The contact holding exactly one given identifier, or NotFound."""
    given = [
        (n, v) for n, v in (("email", email), ("phone", phone), ("external_id", external_id)) if v
    ]
    if len(given) != 1:
        raise InvalidInput("give exactly one of email, phone, external_id", field="query")
    name, value = given[0]
    contact = contacts_repo.find_contact(
        session, field=name, value=value.strip().lower() if name == "email" else value
    )
    if contact is None:
        raise NotFound(f"no contact with {name} {value!r}")
    return contact


def contact_out(session: Session, contact: Contact) -> ContactOut:
    """A contact with consent and per-journey state: the rows' fields, under the same names."""
    return ContactOut(
        **contact.model_dump(exclude={"attributes"}),
        attributes=shown(dict(contact.attributes)),
        consents=[
            ConsentOut.model_validate(c, from_attributes=True)
            for c in contacts_repo.contact_consents(session, contact_id=contact.id)
        ],
        enrollments=[
            EnrollmentOut.model_validate(e, from_attributes=True)
            for e in enrollments_repo.contact_enrollments(session, contact_id=contact.id)
        ],
    )


def message_out(message: Message) -> MessageOut:
    """One outbox row for operators: the row's fields, under the same names."""
    return MessageOut.model_validate(message, from_attributes=True)


def contact_messages(session: Session, contact_id: str) -> list[MessageOut]:
    """A contact's messages, oldest first."""
    require_contact(session, contact_id)
    return [message_out(m) for m in outbox.contact_messages(session, contact_id=contact_id)]


def _data(row: SQLModel, *fields: str) -> dict[str, Any]:
    """The row's fields an entry shows, in this order, under the timeline's names."""
    return {_TIMELINE_NAMES.get(name, name): getattr(row, name) for name in fields}


def timeline(session: Session, contact_id: str) -> list[TimelineEntry]:
    """Events, moves, notes and messages of a contact merged in time order."""
    require_contact(session, contact_id)
    # (entry, order within its kind): the history sequence, or the message's stage visit.
    entries: list[tuple[TimelineEntry, int]] = []

    def add(kind: str, at: datetime, summary: str, order: int, data: dict[str, Any]) -> None:
        entries.append((TimelineEntry(at=at, kind=kind, summary=summary, data=data), order))

    for event in enrollments_repo.contact_events(session, contact_id=contact_id):
        data = _data(event, "event_id", "source", "properties", "message_id", "journey_id", "stage")
        data["properties"] = shown(event.properties)
        add("event", event.time, event.type, 0, data)
    enrollments = enrollments_repo.contact_enrollments(session, contact_id=contact_id)
    holdout = {e.id for e in enrollments if e.holdout}  # her entry into these says so
    for move in enrollments_repo.contact_transitions(session, contact_id=contact_id):
        summary = f"{move.journey_id}: {move.from_stage or '(start)'} -> {move.to_stage}"
        if move.from_stage is None and move.enrollment_id in holdout:
            summary += " (holdout)"
        data = _data(move, "journey_id", "version", "from_stage", "to_stage", "trigger")
        add("transition", move.at, summary, move.seq, data)
    for note in outbox.contact_notes(session, contact_id=contact_id):
        data = _data(note, "journey_id", "stage", "message_id", "text")
        add("note", note.at, f"{note.journey_id}: {note.stage}: {note.text}", note.seq, data)
    for message in outbox.contact_messages(session, contact_id=contact_id):
        data = _data(message, "id", "journey_id", "stage", "status", "delivery_status", "subject")
        summary = f"{message.channel} {message.template}: {message.status}"
        add("message", message.sent_at or message.due_at, summary, message.visit, data)
    entries.sort(key=lambda item: (item[0].at, _KIND_ORDER[item[0].kind], item[1]))
    return [entry for entry, _ in entries]
