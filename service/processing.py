"""Turning events, profile changes, timers and operator actions into stored state.

Each unit of work is one transaction that first locks the contact's row (PostgreSQL
`SELECT ... FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`), so the work for
one contact happens strictly in turn, whichever process or worker does it, and no
transaction ever spans two contacts. The engine decides; this module only persists.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from service.delivery import outbox
from service.delivery import status as message_status
from service.engine.core import (
    ENDED_EARLY,
    CompiledJourney,
    ContactView,
    Decision,
    EnrollmentState,
    EventView,
    Status,
    entry_allowed,
)
from service.engine.timing import parse_date_value
from service.errors import Conflict, InvalidInput, NotFound
from service.runtime import Runtime
from service.schemas import (
    ContactIn,
    ContactPatch,
    Enrolled,
    EventIn,
    EventResult,
    MigrateIn,
    MigrationReport,
    Move,
)
from service.store import repository as repo
from service.store.models import (
    ConsentStatus,
    Contact,
    Enrollment,
    TransitionRecord,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES = 3
# Consent effects of events, whatever journeys say: (channel, status).
CONSENT_EVENTS = {
    "email.unsubscribed": ("email", ConsentStatus.WITHDRAWN),
    "email.complained": ("email", ConsentStatus.WITHDRAWN),
    "sms.opted_out": ("sms", ConsentStatus.WITHDRAWN),
    "sms.opted_in": ("sms", ConsentStatus.GRANTED),
}
# Events after which the address must never be mailed again, whatever consent says.
SUPPRESSING_EVENTS = {"email.complained": "spam complaint"}


@dataclass
class Outcome:
    """Moves and enrollments made by one unit of work, for the response."""

    moved: list[Move] = field(default_factory=list)
    enrolled: list[Enrolled] = field(default_factory=list)


def with_retry(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run `work` in a write transaction, again if a concurrent writer won a unique race."""
    for attempt in range(RETRIES):
        try:
            with runtime.db.write() as session:
                return work(session)
        except (IntegrityError, OperationalError):
            if attempt == RETRIES - 1:
                raise
            logger.info("write conflict, retrying (attempt %d)", attempt + 2)
    raise AssertionError("unreachable")


# ----- views ----------------------------------------------------------------------------------


def contact_view(contact: Contact) -> ContactView:
    """The engine's plain-data view of a contact row."""
    return ContactView(
        id=contact.id,
        attributes=dict(contact.attributes),
        timezone=contact.timezone,
        persona=contact.persona,
        email=contact.email,
        phone=contact.phone,
    )


def enrollment_state(enrollment: Enrollment) -> EnrollmentState:
    """The engine's view of an enrollment row."""
    return EnrollmentState(
        journey=enrollment.journey_id,
        version=enrollment.version,
        stage=enrollment.stage,
        status=Status(enrollment.status),
        entered_at=enrollment.entered_at,
        visit=enrollment.visit,
        clock_checked_at=enrollment.clock_checked_at,
    )


# ----- persisting decisions -------------------------------------------------------------------


def apply_decision(
    session: Session,
    *,
    contact: Contact,
    enrollment: Enrollment,
    decision: Decision,
    now: datetime,
    outcome: Outcome,
    event_row_id: str | None = None,
) -> None:
    """Persist one engine step: state, history, and the outbox (stale messages canceled)."""
    state = decision.state
    previous_visit = enrollment.visit
    enrollment.version = state.version
    enrollment.stage = state.stage
    enrollment.status = state.status
    enrollment.visit = state.visit
    enrollment.entered_at = state.entered_at
    enrollment.clock_checked_at = state.clock_checked_at
    enrollment.next_due_at = decision.next_due_at
    if state.status is not Status.ACTIVE and enrollment.ended_at is None:
        enrollment.ended_at = now
    session.add(enrollment)
    for change in decision.changes:
        contact.history_seq += 1
        session.add(
            TransitionRecord(
                enrollment_id=enrollment.id,
                contact_id=contact.id,
                journey_id=enrollment.journey_id,
                version=enrollment.version,
                from_stage=change.from_stage,
                to_stage=change.to_stage,
                trigger=change.trigger,
                at=change.at,
                seq=contact.history_seq,
            )
        )
        outcome.moved.append(
            Move(
                journey=enrollment.journey_id,
                from_=change.from_stage,
                to=change.to_stage,
                trigger=change.trigger,
            )
        )
    session.add(contact)
    session.flush()
    if state.status in ENDED_EARLY:
        message_status.cancel_pending(
            session, enrollment_id=enrollment.id, reason=f"enrollment {state.status}"
        )
    elif state.visit != previous_visit:
        message_status.cancel_pending(
            session, enrollment_id=enrollment.id, reason="contact left the stage before sending"
        )
    for order in decision.messages:
        outbox.enqueue(
            session, enrollment=enrollment, order=order, event_row_id=event_row_id, now=now
        )
    for note in decision.notes:
        logger.warning("journey %s: %s", enrollment.journey_id, note)


def _start(
    session: Session,
    *,
    contact: Contact,
    compiled: CompiledJourney,
    now: datetime,
    outcome: Outcome,
    event: EventView | None = None,
    event_row_id: str | None = None,
) -> None:
    decision = compiled.start(contact_view(contact), now=now, event=event)
    enrollment = Enrollment(
        contact_id=contact.id,
        journey_id=compiled.id,
        version=compiled.version,
        stage=decision.state.stage,
        status=decision.state.status,
        visit=decision.state.visit,
        entered_at=now,
        started_at=now,
    )
    apply_decision(
        session,
        contact=contact,
        enrollment=enrollment,
        decision=decision,
        now=now,
        outcome=outcome,
        event_row_id=event_row_id,
    )
    outcome.enrolled.append(
        Enrolled(
            journey=compiled.id,
            version=compiled.version,
            stage=enrollment.stage,
            status=enrollment.status,
        )
    )


# ----- profiles -------------------------------------------------------------------------------


def _merge_profile(
    contact: Contact,
    *,
    attributes: dict[str, Any],
    persona: str | None,
    timezone: str | None,
    now: datetime,
    add_only: bool = False,
) -> bool:
    """Merge attributes (null removes; with `add_only` only missing ones are added) and set
    persona/timezone; whether anything changed."""
    merged = dict(contact.attributes)
    for key, value in attributes.items():
        if add_only and (value is None or key in merged):
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    changed = merged != contact.attributes
    if changed:
        contact.attributes = merged
    for name, value in (("persona", persona), ("timezone", timezone)):
        if value is not None and getattr(contact, name) != value:
            setattr(contact, name, value)
            changed = True
    if changed:
        contact.updated_at = now
    return changed


def _reschedule(runtime: Runtime, session: Session, *, contact: Contact) -> None:
    """Recompute timers after a profile change (e.g. a new wedding date)."""
    view = contact_view(contact)
    for enrollment in repo.contact_enrollments(session, contact_id=contact.id):
        if enrollment.status != Status.ACTIVE:
            continue
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        enrollment.next_due_at = compiled.next_due(enrollment_state(enrollment), view)
        session.add(enrollment)


def _attach_identifiers(
    session: Session, contact: Contact, identifiers: list[tuple[str, str]]
) -> None:
    """Fill in identifiers the contact lacks, unless another contact already holds them."""
    for name, value in identifiers:
        if name == "id" or getattr(contact, name) is not None:
            continue
        if repo.identifier_owner(session, field=name, value=value) is None:
            setattr(contact, name, value)


# ----- events ---------------------------------------------------------------------------------


def _event_contact(
    session: Session, identifiers: list[tuple[str, str]], *, now: datetime
) -> Contact:
    """The contact an event is about, locked: whoever holds its strongest known identifier
    (so a shop's order with a new customer id and a known email reaches her), else a new one."""
    for name, value in identifiers:
        owner = value if name == "id" else repo.identifier_owner(session, field=name, value=value)
        if owner is None:
            continue
        contact = repo.lock_contact(session, contact_id=owner)
        if contact is not None:
            return contact
        if name == "id":
            raise LookupError(name, value)
    name, value = identifiers[0]
    if name == "id":
        raise LookupError(name, value)
    try:
        return repo.ensure_contact(session, field=name, value=value, now=now)
    except LookupError:  # its holder was erased meanwhile
        raise LookupError(name, value) from None


def _fire_due_timer(
    session: Session,
    *,
    contact: Contact,
    enrollment: Enrollment,
    compiled: CompiledJourney,
    now: datetime,
    outcome: Outcome,
    due_by: datetime | None = None,
) -> None:
    """Fire the enrollment's timer if it was due by `due_by` (default `now`): from the
    scheduler, and before an event that happened after it (a lagging or stopped scheduler),
    as the first trigger to fire wins."""
    if enrollment.next_due_at is None or enrollment.next_due_at > (due_by or now):
        return
    decision = compiled.on_clock(enrollment_state(enrollment), contact_view(contact), now=now)
    apply_decision(
        session,
        contact=contact,
        enrollment=enrollment,
        decision=decision,
        now=now,
        outcome=outcome,
    )


def check_events(runtime: Runtime, events: list[EventIn]) -> None:
    """Reject a batch naming an unknown contact id, or a date attribute that is no date,
    before any event takes effect."""
    with runtime.db.session() as session:
        for index, event in enumerate(events):
            contact_id = event.contact.id
            if contact_id is not None and repo.get_contact(session, contact_id=contact_id) is None:
                raise InvalidInput(
                    f"unknown contact id {contact_id!r}", field=f"events.{index}.contact.id"
                )
    for index, event in enumerate(events):
        check_date_attributes(runtime, event.attributes, field_prefix=f"events.{index}.attributes")


def _bad_dates(runtime: Runtime, attributes: Mapping[str, Any]) -> list[str]:
    """Attributes a journey times messages by (its `at` triggers) that hold no date."""
    dated = set().union(*(j.date_attributes for j in runtime.journeys.current.values()))
    return [
        name
        for name, value in attributes.items()
        if name in dated and value is not None and parse_date_value(value) is None
    ]


def check_date_attributes(
    runtime: Runtime, attributes: Mapping[str, Any], *, field_prefix: str
) -> None:
    """An attribute a journey times messages by must hold a date: a wedding date of
    '18/09/2027' would otherwise leave the contact waiting forever."""
    bad = _bad_dates(runtime, attributes)
    if bad:
        raise InvalidInput(
            f"{bad[0]} must be an ISO 8601 date or datetime (like 2027-09-18), "
            f"not {attributes[bad[0]]!r}",
            field=f"{field_prefix}.{bad[0]}",
        )


def without_bad_dates(runtime: Runtime, event: EventIn) -> EventIn:
    """The event minus date attributes that hold no date, for senders (provider webhooks)
    that cannot be answered with a 422: the rest of the event still counts."""
    bad = _bad_dates(runtime, event.attributes)
    if not bad:
        return event
    logger.warning(
        "%s event %s: ignored attributes that are no date: %s",
        event.source,
        event.id,
        ", ".join(bad),
    )
    kept = {k: v for k, v in event.attributes.items() if k not in bad}
    return event.model_copy(update={"attributes": kept})


def _is_hard_bounce(event: EventIn) -> bool:
    """Adapters say `hard: true`; integrators posting /events may say `bounce_type: hard`."""
    properties = event.properties
    return properties.get("hard") is True or properties.get("bounce_type") == "hard"


def _consent_effects(session: Session, *, contact: Contact, event: EventIn, now: datetime) -> None:
    effect = CONSENT_EVENTS.get(event.type)
    if event.type == "email.unsubscribed" and event.properties.get("scope") == "group":
        effect = None  # one subscription group only: journeys' exit rules decide, consent stays
    if effect is not None:
        channel, status = effect
        repo.set_consent(
            session,
            contact_id=contact.id,
            channel=channel,
            status=status,
            reason=event.type,
            now=now,
        )
    suppression = SUPPRESSING_EVENTS.get(event.type)
    if event.type == "email.bounced" and _is_hard_bounce(event):
        suppression = "hard bounce"
    if suppression is not None:
        repo.set_consent(
            session,
            contact_id=contact.id,
            channel="email",
            suppressed=True,
            reason=suppression,
            now=now,
        )


def ingest_event(
    runtime: Runtime, event: EventIn, *, add_attributes_only: bool = False
) -> EventResult:
    """Record one event and apply it to the contact's journeys, exactly once; an unproven
    sender (`add_attributes_only`) may add attributes but never change or remove one."""
    return with_retry(
        runtime, lambda session: _ingest(runtime, session, event, add_attributes_only)
    )


def _duplicate(event: EventIn, contact_id: str) -> EventResult:
    return EventResult(id=event.id, source=event.source, status="duplicate", contact_id=contact_id)


def _ingest(
    runtime: Runtime, session: Session, event: EventIn, add_attributes_only: bool
) -> EventResult:
    now = runtime.clock.now()
    earlier = repo.find_event(session, source=event.source, event_id=event.id)
    if earlier is not None:
        return _duplicate(event, earlier.contact_id)
    identifiers = event.contact.identifiers()
    try:
        contact = _event_contact(session, identifiers, now=now)
    except LookupError as exc:
        name, value = exc.args
        raise InvalidInput(f"unknown contact {name} {value!r}", field=f"contact.{name}") from None
    happened_at = event.time or now
    message = outbox.referenced_message(session, contact_id=contact.id, properties=event.properties)
    row_id = repo.record_event(
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
        return _duplicate(event, contact.id)
    if message is not None:
        message_status.record_feedback(message, event_type=event.type, properties=event.properties)
        session.add(message)
    _attach_identifiers(session, contact, identifiers)
    _merge_profile(
        contact,
        attributes=event.attributes,
        persona=event.persona,
        timezone=event.timezone,
        now=now,
        add_only=add_attributes_only,
    )
    session.add(contact)
    _consent_effects(session, contact=contact, event=event, now=now)
    view = contact_view(contact)
    seen = EventView(
        type=event.type,
        time=happened_at,
        properties=event.properties,
        id=event.id,
        source=event.source,
    )
    outcome = Outcome()
    enrollments = list(repo.contact_enrollments(session, contact_id=contact.id))
    for enrollment in enrollments:
        if enrollment.status != Status.ACTIVE:
            continue
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        _fire_due_timer(
            session,
            contact=contact,
            enrollment=enrollment,
            compiled=compiled,
            now=now,
            outcome=outcome,
            due_by=min(happened_at, now),
        )
        if enrollment.status != Status.ACTIVE:
            continue
        decision = compiled.on_event(enrollment_state(enrollment), view, seen, now=now)
        apply_decision(
            session,
            contact=contact,
            enrollment=enrollment,
            decision=decision,
            now=now,
            outcome=outcome,
            event_row_id=row_id,
        )
    for journey_id, compiled in runtime.journeys.current.items():
        matched, notes = compiled.matches_entry(view, seen)
        for note in notes:
            logger.warning("journey %s entry: %s", journey_id, note)
        if not matched:
            continue
        mine = [e for e in enrollments if e.journey_id == journey_id]
        active = [e for e in mine if e.status == Status.ACTIVE]
        reenter = compiled.journey.entry.reenter
        if not entry_allowed(reenter, has_active=bool(active), has_any=bool(mine)):
            continue
        for enrollment in active:
            pinned = runtime.journeys.get(enrollment.journey_id, enrollment.version)
            decision = pinned.exit(enrollment_state(enrollment), now=now, reason="restart")
            apply_decision(
                session,
                contact=contact,
                enrollment=enrollment,
                decision=decision,
                now=now,
                outcome=outcome,
            )
        _start(
            session,
            contact=contact,
            compiled=compiled,
            now=now,
            outcome=outcome,
            event=seen,
            event_row_id=row_id,
        )
    return EventResult(
        id=event.id,
        source=event.source,
        status="accepted",
        contact_id=contact.id,
        moved=outcome.moved,
        enrolled=outcome.enrolled,
    )


# ----- contacts -------------------------------------------------------------------------------


def upsert_contact(runtime: Runtime, body: ContactIn) -> tuple[Contact, bool]:
    """Find a contact by any identifier (creating it if none matches) and update it."""
    check_date_attributes(runtime, body.attributes, field_prefix="attributes")
    return with_retry(runtime, lambda session: _upsert(runtime, session, body))


def _upsert(runtime: Runtime, session: Session, body: ContactIn) -> tuple[Contact, bool]:
    now = runtime.clock.now()
    identifiers = [
        (name, getattr(body, name))
        for name in ("id", "external_id", "email", "phone")
        if getattr(body, name) is not None
    ]
    owners: dict[str, str] = {}
    for name, value in identifiers:
        if name == "id":
            if repo.get_contact(session, contact_id=value) is None:
                raise NotFound(f"no contact with id {value!r}")
            owners[name] = value
        else:
            owner = repo.identifier_owner(session, field=name, value=value)
            if owner is not None:
                owners[name] = owner
    if len(set(owners.values())) > 1:
        raise Conflict(
            "the identifiers given belong to different contacts", detail={"owners": owners}
        )
    created = not owners
    if owners:
        contact = repo.lock_contact(session, contact_id=next(iter(owners.values())))
        if contact is None:
            raise NotFound("the contact was deleted meanwhile")
    else:
        name, value = identifiers[0]
        contact = repo.ensure_contact(session, field=name, value=value, now=now)
    for name, value in identifiers:
        if name != "id" and getattr(contact, name) != value:
            setattr(contact, name, value)
            contact.updated_at = now
    changed = _merge_profile(
        contact, attributes=body.attributes, persona=body.persona, timezone=body.timezone, now=now
    )
    session.add(contact)
    session.flush()
    if changed:
        _reschedule(runtime, session, contact=contact)
    return contact, created


def patch_contact(runtime: Runtime, contact_id: str, body: ContactPatch) -> Contact:
    """Merge attributes and set persona/timezone; timers follow the new values."""
    check_date_attributes(runtime, body.attributes, field_prefix="attributes")

    def work(session: Session) -> Contact:
        contact = _locked(session, contact_id)
        if _merge_profile(
            contact,
            attributes=body.attributes,
            persona=body.persona,
            timezone=body.timezone,
            now=runtime.clock.now(),
        ):
            session.add(contact)
            _reschedule(runtime, session, contact=contact)
        return contact

    return with_retry(runtime, work)


def _locked(session: Session, contact_id: str) -> Contact:
    contact = repo.lock_contact(session, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    return contact


# ----- timers ---------------------------------------------------------------------------------


def run_timer(runtime: Runtime, *, enrollment_id: str, contact_id: str, now: datetime) -> Outcome:
    """Fire a claimed enrollment's due timer, if it is still due, and release the claim."""

    def work(session: Session) -> Outcome:
        outcome = Outcome()
        contact = _locked(session, contact_id)
        enrollment = repo.get_enrollment(session, enrollment_id=enrollment_id)
        if enrollment is None:
            return outcome
        session.refresh(enrollment)
        enrollment.claimed_until = None
        session.add(enrollment)
        if enrollment.status != Status.ACTIVE:
            return outcome
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        _fire_due_timer(
            session,
            contact=contact,
            enrollment=enrollment,
            compiled=compiled,
            now=now,
            outcome=outcome,
        )
        return outcome

    return with_retry(runtime, work)


# ----- operator actions -----------------------------------------------------------------------


def enroll(runtime: Runtime, *, contact_id: str, journey_id: str) -> Outcome:
    """Enrol a contact by hand in a journey's current version (not while one is active)."""
    compiled = runtime.journeys.current_of(journey_id)

    def work(session: Session) -> Outcome:
        contact = _locked(session, contact_id)
        existing = repo.contact_enrollments(session, contact_id=contact_id, journey_id=journey_id)
        if any(e.status == Status.ACTIVE for e in existing):
            raise Conflict(f"the contact is already active in journey '{journey_id}'")
        outcome = Outcome()
        _start(
            session, contact=contact, compiled=compiled, now=runtime.clock.now(), outcome=outcome
        )
        return outcome

    return with_retry(runtime, work)


def _active_enrollment(session: Session, *, contact_id: str, journey_id: str) -> Enrollment:
    for enrollment in repo.contact_enrollments(
        session, contact_id=contact_id, journey_id=journey_id
    ):
        if enrollment.status == Status.ACTIVE:
            return enrollment
    raise NotFound(f"the contact has no active enrollment in journey '{journey_id}'")


def _operate(
    runtime: Runtime,
    *,
    contact_id: str,
    journey_id: str,
    decide: Callable[[CompiledJourney, Enrollment, Contact, datetime], Decision],
) -> Outcome:
    """One operator action on a contact's active enrollment, persisted like any engine step."""

    def work(session: Session) -> Outcome:
        contact = _locked(session, contact_id)
        enrollment = _active_enrollment(session, contact_id=contact_id, journey_id=journey_id)
        compiled = runtime.journeys.get(journey_id, enrollment.version)
        now = runtime.clock.now()
        decision = decide(compiled, enrollment, contact, now)
        outcome = Outcome()
        apply_decision(
            session,
            contact=contact,
            enrollment=enrollment,
            decision=decision,
            now=now,
            outcome=outcome,
        )
        return outcome

    return with_retry(runtime, work)


def move(runtime: Runtime, *, contact_id: str, journey_id: str, stage: str) -> Outcome:
    """Move a contact by hand to any stage of her enrollment's version."""

    def decide(
        compiled: CompiledJourney, enrollment: Enrollment, contact: Contact, now: datetime
    ) -> Decision:
        if stage not in compiled.journey.stages:
            raise InvalidInput(
                f"journey '{journey_id}' version {enrollment.version} has no stage '{stage}'",
                field="stage",
            )
        return compiled.move_to(enrollment_state(enrollment), contact_view(contact), stage, now=now)

    return _operate(runtime, contact_id=contact_id, journey_id=journey_id, decide=decide)


def exit_journey(runtime: Runtime, *, contact_id: str, journey_id: str) -> Outcome:
    """Take a contact out of a journey by hand; her unsent messages are canceled."""

    def decide(
        compiled: CompiledJourney, enrollment: Enrollment, contact: Contact, now: datetime
    ) -> Decision:
        return compiled.exit(enrollment_state(enrollment), now=now, reason="manual")

    return _operate(runtime, contact_id=contact_id, journey_id=journey_id, decide=decide)


def erase_contact(runtime: Runtime, *, contact_id: str) -> None:
    """Erase a contact and everything about her (events, enrollments, messages, history).

    The database cascades from the contact row, in one transaction. A provider that later
    retries an old event creates a new contact: erasure cannot be undone by stored data.
    """

    def work(session: Session) -> None:
        contact = _locked(session, contact_id)
        session.delete(contact)

    with_retry(runtime, work)


# ----- versions -------------------------------------------------------------------------------


def migrate_journey(runtime: Runtime, *, journey_id: str, body: MigrateIn) -> MigrationReport:
    """Move active enrollments of older versions onto the current one, stage by stage name
    (or `stage_map`); a dry run only counts. Each contact moves in her own transaction."""
    current = runtime.journeys.current_of(journey_id)
    unknown = sorted(t for t in body.stage_map.values() if t not in current.journey.stages)
    if unknown:
        raise InvalidInput(
            f"version {current.version} of '{journey_id}' has no stage {', '.join(unknown)}",
            field="stage_map",
        )
    with runtime.db.session() as session:
        rows = repo.enrollments_to_migrate(
            session,
            journey_id=journey_id,
            current_version=current.version,
            from_version=body.from_version,
        )
    migrated: Counter[str] = Counter()
    unmapped: Counter[str] = Counter()
    for enrollment_id, contact_id, version, stage in rows:
        target = body.stage_map.get(stage, stage)
        if target not in current.journey.stages:
            unmapped[f"{version}:{stage}"] += 1
        elif body.dry_run or _adopt(
            runtime, current, enrollment_id, contact_id, listed=(version, stage), stage=target
        ):
            migrated[f"{version}:{stage} -> {target}"] += 1
    return MigrationReport(
        journey=journey_id,
        to_version=current.version,
        dry_run=body.dry_run,
        migrated=dict(migrated),
        unmapped=dict(unmapped),
    )


def _adopt(
    runtime: Runtime,
    current: CompiledJourney,
    enrollment_id: str,
    contact_id: str,
    *,
    listed: tuple[str, str],
    stage: str,
) -> bool:
    """Move one enrollment onto `current`, unless it ended or moved on since it was listed
    at (version, stage): its target was chosen for that stage."""

    def work(session: Session) -> bool:
        contact = _locked(session, contact_id)
        enrollment = repo.get_enrollment(session, enrollment_id=enrollment_id)
        if enrollment is None or enrollment.status != Status.ACTIVE:
            return False
        session.refresh(enrollment)
        if (enrollment.version, enrollment.stage) != listed:
            return False
        now = runtime.clock.now()
        decision = current.adopt(
            enrollment_state(enrollment), contact_view(contact), stage=stage, now=now
        )
        apply_decision(
            session,
            contact=contact,
            enrollment=enrollment,
            decision=decision,
            now=now,
            outcome=Outcome(),
        )
        return True

    return with_retry(runtime, work)
