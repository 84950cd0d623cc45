"""Quiet events, applied a whole chunk at a time: most events (a page view, an open with no
message reference) change nothing but their own record, and those need none of the unit of
work's per-event statements.

An event is quiet when it is a duplicate of one received, or when it names a known contact
by identifiers she already holds (or that someone else does), says nothing of her profile,
consent or an order, finds no timer of hers due, and the engine decides that it moves, enrols
and notes nothing in any of her journeys; provider feedback on a message of hers (delivered,
opened) is quiet too, its only other effect being that message's delivery facts. Quiet
events of a chunk are recorded with one insert, their messages' feedback written with one
update, and marked applied with one update, all or none; every other event, and every later
event sharing its lane, an identifier or its contact, is left to be applied one by one in
order, exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service.catalog.registry import JourneyRegistry
from service.contacts import repository as contacts_repo
from service.contacts.consent import consent_effects
from service.contacts.profile import contact_view
from service.delivery import outbox
from service.delivery import status as message_status
from service.engine.core import CompiledJourney, EventView, Status
from service.engine.entry import decide_entry
from service.engine.state import ContactView
from service.enrollments import repository as enrollments_repo
from service.enrollments.attribution import credited_revenue
from service.enrollments.schemas import EventResult
from service.enrollments.unit import enrollment_state
from service.schemas import EventIn
from service.store.intake import InboxEvent
from service.store.models import Contact, Enrollment, Message, new_id

logger = logging.getLogger(__name__)


def record_quiet(
    journeys: JourneyRegistry, session: Session, rows: Sequence[InboxEvent], *, now: datetime
) -> set[int]:
    """Record and mark applied the quiet events among `rows` (claimed, in id order), within
    the caller's transaction; the ids of the rows done, the rest left to apply one by one."""
    try:
        results, records, messages = _quiet_results(journeys, session, rows, now=now)
    except SQLAlchemyError:
        raise  # the database's trouble: the whole batch is tried again
    except Exception:
        # Telling quiet events apart only saves time: a defect in it leaves the chunk to the
        # one path that applies every event and keeps its own error with the event.
        logger.exception("quiet events could not be told apart; applied one by one")
        return set()
    try:
        with session.begin_nested():  # all of the chunk's quiet events, or none
            return _store(session, results, records, messages, now=now)
    except SQLAlchemyError:
        raise
    except Exception:
        for message in messages.values():
            session.expire(message)  # fed back in memory only: read afresh by the one path
        logger.exception("quiet events could not be stored; applied one by one")
        return set()


def _store(
    session: Session,
    results: dict[int, EventResult],
    records: Mapping[int, dict[str, Any]],
    messages: Mapping[int, Message],
    *,
    now: datetime,
) -> set[int]:
    """Record the quiet events, feed back on their messages and mark them applied."""
    stored = enrollments_repo.record_events(session, rows=list(records.values()))
    fed: dict[str, Message] = {}
    for row_id, values in records.items():  # in row order, as the one path feeds back
        if (values["source"], values["event_id"]) not in stored:
            del results[row_id]  # received meanwhile: the one path answers it as a duplicate
        elif (message := messages.get(row_id)) is not None:
            message_status.record_feedback(
                message,
                event_type=values["type"],
                properties=values["properties"],
                at=values["time"],
            )
            fed[message.id] = message
    outbox.store_feedback(session, messages=fed.values())
    enrollments_repo.mark_applied(
        session,
        applied=[
            {"row_id": row_id, "result": result.model_dump(mode="json"), "applied_at": now}
            for row_id, result in results.items()
        ],
    )
    return set(results)


def _quiet_results(
    journeys: JourneyRegistry, session: Session, rows: Sequence[InboxEvent], *, now: datetime
) -> tuple[dict[int, EventResult], dict[int, dict[str, Any]], dict[int, Message]]:
    """The result of each quiet row, the event record of each one not a duplicate, and the
    message of hers each of those reports on."""
    results: dict[int, EventResult] = {}
    records: dict[int, dict[str, Any]] = {}
    reported: dict[int, Message] = {}
    events = {row.id: event for row in rows if (event := _event_of(row)) is not None}
    if not events:
        return results, records, reported
    owners = contacts_repo.identifier_owners(
        session,
        identifiers={
            pair for e in events.values() for pair in e.contact.identifiers() if pair[0] != "id"
        },
    )
    if not owners and not any(e.contact.id for e in events.values()):
        return results, records, reported  # new contacts alone (signups): none is quiet
    received = enrollments_repo.events_received(
        session, keys=[(event.source, event.id) for event in events.values()]
    )
    fresh = [e for e in events.values() if (e.source, e.id) not in received]
    named = {owner for e in fresh if (owner := _owner(e, owners)) is not None}
    contacts = contacts_repo.lock_contacts(session, contact_ids=sorted(named))
    enrollments = enrollments_repo.enrollments_of(session, contact_ids=sorted(contacts))
    views = {contact_id: contact_view(contact) for contact_id, contact in contacts.items()}
    messages = outbox.referenced_messages(
        session,
        references={
            (message_id, owner)
            for e in fresh
            if (message_id := outbox.message_reference(e.properties)) is not None
            and (owner := _owner(e, owners)) in contacts
        },
    )
    held = _Held()
    for row in rows:
        event = events.get(row.id)
        if row.id is None or event is None or held.holds(row, event, owners):
            held.add(row, event, owners)
            continue
        earlier = received.get((event.source, event.id))
        if earlier is not None:
            if earlier.type != event.type:  # a clash: its error comes from the one path
                held.add(row, event, owners)
                continue
            results[row.id] = EventResult(
                id=event.id, source=event.source, status="duplicate", contact_id=earlier.contact_id
            )
            continue
        owner = _owner(event, owners)
        contact = contacts.get(owner) if owner is not None else None
        if contact is None or not _is_quiet(
            journeys,
            event,
            contact=contact,
            view=views[contact.id],
            enrollments=enrollments[contact.id],
            owners=owners,
            now=now,
        ):
            held.add(row, event, owners)
            continue
        message_id = outbox.message_reference(event.properties)
        message = messages.get((message_id, contact.id)) if message_id is not None else None
        records[row.id] = _event_row(event, contact_id=contact.id, message=message, now=now)
        if message is not None:
            reported[row.id] = message
        results[row.id] = EventResult(
            id=event.id, source=event.source, status="accepted", contact_id=contact.id
        )
    return results, records, reported


@dataclass
class _Held:
    """What the rows left to the one path may change: her lane, the identifiers they name
    (which they may give her, or a new contact) and whom they name. A later row touching
    any of it waits behind them, since it would be decided on what was there before."""

    lanes: set[str] = field(default_factory=set)
    identifiers: set[tuple[str, str]] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)

    def add(
        self, row: InboxEvent, event: EventIn | None, owners: Mapping[tuple[str, str], str]
    ) -> None:
        """Leave the row to the one path."""
        self.lanes.add(row.lane)
        if event is None:
            return  # it applies nothing: the one path keeps its error
        self.identifiers.update(event.contact.identifiers())
        owner = _owner(event, owners)
        if owner is not None:
            self.contacts.add(owner)

    def holds(self, row: InboxEvent, event: EventIn, owners: Mapping[tuple[str, str], str]) -> bool:
        """Whether the row must wait behind one left to the one path."""
        return (
            row.lane in self.lanes
            or not self.identifiers.isdisjoint(event.contact.identifiers())
            or _owner(event, owners) in self.contacts
        )


def _event_of(row: InboxEvent) -> EventIn | None:
    """The row's event; None when it no longer reads as one (its error comes from the one
    path)."""
    try:
        return EventIn.internal(**row.body)  # read back as the one path reads it
    except ValidationError:
        return None


def _owner(event: EventIn, owners: Mapping[tuple[str, str], str]) -> str | None:
    """Who the event is about, as the one path resolves it: the holder of its strongest
    identifier that someone holds (an id names her itself)."""
    for name, value in event.contact.identifiers():
        if name == "id":
            return value
        owner = owners.get((name, value))
        if owner is not None:
            return owner
    return None


def _is_quiet(
    journeys: JourneyRegistry,
    event: EventIn,
    *,
    contact: Contact,
    view: ContactView,
    enrollments: Sequence[Enrollment],
    owners: Mapping[tuple[str, str], str],
    now: datetime,
) -> bool:
    """Whether applying the event would change nothing but its own record."""
    if event.attributes or event.persona is not None or event.timezone is not None:
        return False
    for name, value in event.contact.identifiers():
        if name == "id":
            if value != contact.id:
                return False  # an id nobody has: the one path refuses it
        elif getattr(contact, name) is None and (name, value) not in owners:
            return False  # she would be given this identifier
    if consent_effects(event):
        return False
    seen = event.view(now=now)
    if credited_revenue(seen) is not None:
        return False
    due_by = min(seen.time, now)
    active = [e for e in enrollments if e.status == Status.ACTIVE]
    for enrollment in active:
        if enrollment.next_due_at is not None and enrollment.next_due_at <= due_by:
            return False
        compiled = journeys.get(enrollment.journey_id, enrollment.version)
        if not _stays(compiled, enrollment, view, seen, now=now):
            return False
    for journey_id, compiled in journeys.current.items():
        if compiled.journey.entry.event != event.type:
            continue  # no entry of another type can enrol her
        mine = [e for e in enrollments if e.journey_id == journey_id]
        entry = decide_entry(
            compiled,
            view,
            seen,
            active=[enrollment_state(e) for e in mine if e.status == Status.ACTIVE],
            enrolled_before=bool(mine),
            now=now,
        )
        if entry.start is not None or entry.notes:
            return False
    return True


def _stays(
    compiled: CompiledJourney,
    enrollment: Enrollment,
    view: ContactView,
    event: EventView,
    *,
    now: datetime,
) -> bool:
    """Whether the engine leaves this enrollment exactly as stored on the event."""
    state = enrollment_state(enrollment)
    if event.type not in compiled.event_types:
        return compiled.next_due(state, view) == enrollment.next_due_at
    decision = compiled.on_event(state, view, event, now=now)
    return (
        decision.state == state
        and not decision.changes
        and not decision.messages
        and not decision.notes
        and decision.next_due_at == enrollment.next_due_at
    )


def _event_row(
    event: EventIn, *, contact_id: str, message: Message | None, now: datetime
) -> dict[str, Any]:
    """Every column of the event's record, as the one path stores a quiet event (tied to the
    message of hers it reports on, as `record_event` ties it)."""
    return {
        "id": new_id(),
        "source": event.source,
        "event_id": event.id,
        "type": event.type,
        "time": event.time or now,
        "contact_id": contact_id,
        "properties": event.properties,
        "received_at": now,
        "message_id": message.id if message else None,
        "journey_id": message.journey_id if message else None,
        "stage": message.stage if message else None,
    }
