"""The right to erasure: everything personal about her deleted for good, while her history
stays, anonymised, so every journey's figures stay true."""

# Her contact row, consents, anonymous ids (and their waiting events) and her events in the
# inbox are deleted. Her enrollments, moves, messages, notes, events and the credits of her
# orders are kept under a new random contact id (a row with no identifier, attribute, persona
# or time zone) and get new random ids where an id ever left the database (enrollments and
# messages: providers and links know those; an event's own id: its sender knows it), so
# nothing leads back to her and no mapping is kept. What they said is cleared: message
# content, addresses and errors; event properties but an order's revenue figures. Her active
# enrollments end first, as an operator exit would (`exit:erased`), so nothing more is sent
# or timed for nobody.

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.contacts.identity import locked_contact
from service.delivery import outbox
from service.engine.core import Status
from service.enrollments import repository as enrollments_repo
from service.enrollments.attribution import ORDER, REVENUE_KEYS, move_credits
from service.enrollments.inbox import contact_lanes
from service.enrollments.unit import Work, apply_decision, enrollment_state
from service.runtime import Runtime
from service.store.columns import new_id
from service.store.models import Contact

ERASED = "erased"  # the exit reason of an enrollment active when its contact is erased


def kept_properties(event_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """What an erased contact's event keeps: an order's numeric revenue figures, no more."""
    if event_type != ORDER:
        return {}
    return {key: properties[key] for key in REVENUE_KEYS if _number(properties.get(key))}


def _number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    if isinstance(value, str):
        try:
            return math.isfinite(float(value))
        except ValueError:
            return False
    return False


def _end_active(session: Session, runtime: Runtime, contact: Contact) -> None:
    """Exit her active enrollments, canceling what they have not sent yet."""
    unit = Work(session, contact, runtime.clock.now())
    for enrollment in enrollments_repo.contact_enrollments(session, contact_id=contact.id):
        if enrollment.status != Status.ACTIVE:
            continue
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        decision = compiled.exit(enrollment_state(enrollment), now=unit.now, reason=ERASED)
        apply_decision(unit, enrollment=enrollment, decision=decision)


def erase_contact(runtime: Runtime, *, contact_id: str) -> None:
    """Erase a contact's personal data, keeping her history anonymised, in one transaction.

    A provider that later retries an old event creates a new contact: erasure cannot be
    undone by stored data. Raises NotFound for an unknown (or already erased) contact.
    """

    def work(session: Session) -> None:
        contact = locked_contact(session, contact_id)
        _end_active(session, runtime, contact)
        into = contacts_repo.add_anonymous(
            session, history_seq=contact.history_seq, now=runtime.clock.now()
        ).id
        enrollments = enrollments_repo.copy_enrollments(session, contact_id=contact.id, into=into)
        messages = outbox.move_messages(
            session, contact_id=contact.id, into=into, enrollments=enrollments
        )
        enrollments_repo.move_transitions(session, into=into, enrollments=enrollments)
        move_credits(
            session, contact_id=contact.id, into=into, enrollments=enrollments, messages=messages
        )
        enrollments_repo.drop_moved_enrollments(session, enrollments=enrollments)
        for event in enrollments_repo.contact_events(session, contact_id=contact.id):
            event.contact_id = into
            event.event_id = new_id()
            event.properties = kept_properties(event.type, event.properties)
            event.message_id = messages.get(event.message_id or "")
            session.add(event)
        contacts_repo.delete_personal_rows(session, contact_id=contact.id)
        enrollments_repo.drop_inbox_lanes(session, lanes=contact_lanes(contact))
        session.flush()
        session.delete(contact)

    runtime.db.write_retrying(work)
