"""Events in: recorded once, tied to their contact and message, applied to her journeys."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel import Session

from service.catalog.registry import JourneyRegistry
from service.contacts import repository as contacts_repo
from service.contacts.consent import apply_consent_effects
from service.contacts.identity import attach_identifiers, event_contact
from service.contacts.profile import check_date_attributes, contact_view, merge_profile
from service.delivery import outbox
from service.delivery import status as message_status
from service.engine.core import EventView, Status
from service.engine.entry import decide_entry
from service.enrollments import repository as enrollments_repo
from service.enrollments.attribution import credit_order
from service.enrollments.schemas import EventResult
from service.enrollments.unit import (
    Work,
    apply_decision,
    enrollment_state,
    fire_due_timer,
    start_enrollment,
)
from service.errors import Conflict, InvalidInput
from service.runtime import Runtime
from service.schemas import EventIn
from service.store.models import Enrollment

logger = logging.getLogger(__name__)


def check_accepting(
    runtime: Runtime, events: Sequence[EventIn], *, where: str = "events.{index}."
) -> None:
    """What can be refused before an event is stored: a date attribute that is no date, a
    contact id nobody has. `where` spells the field names' start (an edge taking one event
    may name its fields bare)."""
    dated = runtime.journeys.date_attributes
    for index, event in enumerate(events):
        at = where.format(index=index)
        check_date_attributes(dated, event.attributes, field_prefix=f"{at}attributes")
    named = [(index, event.contact.id) for index, event in enumerate(events) if event.contact.id]
    if not named:
        return
    with runtime.db.session() as session:
        for index, contact_id in named:
            if contacts_repo.get_contact(session, contact_id=contact_id) is None:
                raise InvalidInput(
                    f"unknown contact id {contact_id!r}",
                    field=f"{where.format(index=index)}contact.id",
                )


def check_events(runtime: Runtime, events: Sequence[EventIn]) -> None:
    """Reject a batch that `check_accepting` refuses, or reusing an event id for another
    type, before any event takes effect."""
    check_accepting(runtime, events)
    types: dict[tuple[str, str], str] = {}
    with runtime.db.session() as session:
        for index, event in enumerate(events):
            key = (event.source, event.id)
            if key not in types:
                earlier = enrollments_repo.find_event(
                    session, source=event.source, event_id=event.id
                )
                types[key] = earlier.type if earlier is not None else event.type
            if types[key] != event.type:
                raise conflict(event, where=f"events.{index}: ")


def ingest_event(
    runtime: Runtime, event: EventIn, *, add_attributes_only: bool = False
) -> EventResult:
    """Record one event and apply it to the contact's journeys, exactly once; an unproven
    sender (`add_attributes_only`) may add attributes but never change or remove one."""
    runtime.journeys.refresh()  # a reload by any process reaches new entries
    return runtime.db.write_retrying(
        lambda session: record_and_apply(
            runtime, session, event, add_attributes_only=add_attributes_only
        )
    )


def conflict(event: EventIn, *, where: str = "") -> Conflict:
    """An id names one event: the same id with another type is no redelivery, and taking it
    for one would swallow the event silently."""
    return Conflict(
        f"{where}event id {event.id!r} from source {event.source!r} was already used for an "
        "event of another type"
    )


def _duplicate(event: EventIn, contact_id: str) -> EventResult:
    return EventResult(id=event.id, source=event.source, status="duplicate", contact_id=contact_id)


def record_and_apply(
    runtime: Runtime, session: Session, event: EventIn, *, add_attributes_only: bool = False
) -> EventResult:
    """Within the caller's write transaction: the event recorded and applied, or found a
    duplicate."""
    now = runtime.clock.now()
    earlier = enrollments_repo.find_event(session, source=event.source, event_id=event.id)
    if earlier is not None:
        if earlier.type != event.type:
            raise conflict(event)
        return _duplicate(event, earlier.contact_id)
    identifiers = event.contact.identifiers()
    try:
        contact = event_contact(session, identifiers, now=now)
    except LookupError as exc:
        name, value = exc.args
        raise InvalidInput(f"unknown contact {name} {value!r}", field=f"contact.{name}") from None
    happened_at = event.time or now
    message = outbox.referenced_message(session, contact_id=contact.id, properties=event.properties)
    row_id = enrollments_repo.record_event(
        session,
        source=event.source,
        event_id=event.id,
        type=event.type,
        time=happened_at,
        contact_id=contact.id,
        properties=event.properties,
        received_at=now,
        message=message,
    )
    if row_id is None:  # a concurrent delivery of the same event got there first
        earlier = enrollments_repo.find_event(session, source=event.source, event_id=event.id)
        if earlier is not None and earlier.type != event.type:
            raise conflict(event)
        return _duplicate(event, contact.id)
    if message is not None:
        message_status.record_feedback(
            message, event_type=event.type, properties=event.properties, at=happened_at
        )
        session.add(message)
    attach_identifiers(session, contact, identifiers)
    merge_profile(
        contact,
        attributes=event.attributes,
        persona=event.persona,
        timezone=event.timezone,
        now=now,
        add_only=add_attributes_only,
    )
    session.add(contact)
    apply_consent_effects(session, contact=contact, event=event, now=now)
    seen = event.view(now=now)
    credit_order(session, runtime.journeys, row_id=row_id, contact_id=contact.id, event=seen)
    unit = Work(session, contact, now)
    # Read once: the steps below change these rows in place and add none before entries.
    enrollments = list(enrollments_repo.contact_enrollments(session, contact_id=contact.id))
    _apply_to_enrollments(runtime.journeys, unit, enrollments, event=seen, row_id=row_id)
    _apply_to_entries(runtime.journeys, unit, enrollments, event=seen, row_id=row_id)
    return EventResult(
        id=event.id,
        source=event.source,
        status="accepted",
        contact_id=contact.id,
        moved=unit.outcome.moved,
        enrolled=unit.outcome.enrolled,
    )


def _apply_to_enrollments(
    journeys: JourneyRegistry,
    unit: Work,
    enrollments: Sequence[Enrollment],
    *,
    event: EventView,
    row_id: str,
) -> None:
    """The event in each of her active `enrollments`, after any timer due before it."""
    view = contact_view(unit.contact)
    for enrollment in enrollments:
        if enrollment.status != Status.ACTIVE:
            continue
        compiled = journeys.get(enrollment.journey_id, enrollment.version)
        due_by = min(event.time, unit.now)
        fire_due_timer(unit, enrollment=enrollment, compiled=compiled, due_by=due_by)
        if enrollment.status != Status.ACTIVE:
            continue
        decision = compiled.on_event(enrollment_state(enrollment), view, event, now=unit.now)
        apply_decision(unit, enrollment=enrollment, decision=decision, event_row_id=row_id)


def _apply_to_entries(
    journeys: JourneyRegistry,
    unit: Work,
    enrollments: Sequence[Enrollment],
    *,
    event: EventView,
    row_id: str,
) -> None:
    """Enrol her in each current journey the event enters, as its re-entry policy allows."""
    view = contact_view(unit.contact)
    for journey_id, compiled in journeys.current.items():
        mine = [e for e in enrollments if e.journey_id == journey_id]
        active = [e for e in mine if e.status == Status.ACTIVE]
        entry = decide_entry(
            compiled,
            view,
            event,
            active=[enrollment_state(e) for e in active],
            enrolled_before=bool(mine),
            now=unit.now,
        )
        for note in entry.notes:
            logger.warning("journey %s entry: %s", journey_id, note)
        if entry.start is None:
            continue
        for enrollment, decision in zip(active, entry.restarts, strict=True):
            apply_decision(unit, enrollment=enrollment, decision=decision)
        start_enrollment(unit, compiled=compiled, decision=entry.start, event_row_id=row_id)
