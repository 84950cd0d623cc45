"""The unit of work: persisting one engine decision, and the row <-> engine views it needs.

Each unit of work is one transaction that first locks the contact's row (PostgreSQL
`SELECT ... FOR UPDATE`; SQLite serialises writers with `BEGIN IMMEDIATE`), so the work for
one contact happens strictly in turn, whichever process or worker does it, and no
transaction ever spans two contacts. The engine decides; this package only persists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from service.catalog.registry import JourneyRegistry
from service.contacts.profile import contact_view
from service.delivery import outbox
from service.delivery import status as message_status
from service.engine.core import (
    ENDED_EARLY,
    CompiledJourney,
    Decision,
    EnrollmentState,
    Status,
)
from service.enrollments import repository as enrollments_repo
from service.enrollments import visits
from service.enrollments.schemas import Enrolled, Move
from service.store.models import Contact, Enrollment, TransitionRecord

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """Moves and enrollments made by one unit of work, for the response."""

    moved: list[Move] = field(default_factory=list)
    enrolled: list[Enrolled] = field(default_factory=list)


@dataclass
class Work:
    """One unit of work on one locked contact: the transaction each step writes in, its
    moment, and the moves and enrollments its steps made so far."""

    session: Session
    contact: Contact
    now: datetime
    outcome: Outcome = field(default_factory=Outcome)


class EnrollmentRow(Protocol):
    """An enrollment's row as the engine's view is read from it: stored, or held by a batch."""

    @property
    def journey_id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def entered_at(self) -> datetime: ...
    @property
    def visit(self) -> int: ...
    @property
    def clock_checked_at(self) -> datetime | None: ...
    @property
    def holdout(self) -> bool: ...


def enrollment_state(enrollment: EnrollmentRow) -> EnrollmentState:
    """The engine's view of an enrollment row."""
    return EnrollmentState(
        journey=enrollment.journey_id,
        version=enrollment.version,
        stage=enrollment.stage,
        status=Status(enrollment.status),
        entered_at=enrollment.entered_at,
        visit=enrollment.visit,
        clock_checked_at=enrollment.clock_checked_at,
        holdout=enrollment.holdout,
    )


def apply_decision(
    unit: Work, *, enrollment: Enrollment, decision: Decision, event_row_id: str | None = None
) -> Outcome:
    """Persist one engine step: state, history, and the outbox (stale messages canceled);
    the moves are added to the unit's outcome."""
    session, contact, now, outcome = unit.session, unit.contact, unit.now, unit.outcome
    state = decision.state
    left_stage = (enrollment.stage, enrollment.visit) != (state.stage, state.visit)
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
    records: list[TransitionRecord] = []
    for change in decision.changes:
        contact.history_seq += 1
        records.append(
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
        if change.trigger.startswith("goal:"):
            message_status.record_goal(session, enrollment_id=enrollment.id, at=change.at)
        outcome.moved.append(
            Move(
                journey=enrollment.journey_id,
                from_=change.from_stage,
                to=change.to_stage,
                trigger=change.trigger,
            )
        )
    visits.record_moves(session, enrollment=enrollment, moves=records)
    session.add_all(records)
    session.add(contact)
    session.flush()
    if state.status in ENDED_EARLY:
        message_status.cancel_pending(
            session, enrollment_id=enrollment.id, reason=f"enrollment {state.status}"
        )
    elif left_stage:  # a move, or a migration onto another stage
        message_status.cancel_pending(
            session, enrollment_id=enrollment.id, reason="contact left the stage before sending"
        )
    for order in decision.messages:
        outbox.enqueue(
            session, enrollment=enrollment, order=order, event_row_id=event_row_id, now=now
        )
    for note in decision.notes:
        logger.warning("journey %s: %s", enrollment.journey_id, note)
    return outcome


def start_enrollment(
    unit: Work, *, compiled: CompiledJourney, decision: Decision, event_row_id: str | None = None
) -> Outcome:
    """Store a new enrollment from the engine's start decision."""
    enrollment = Enrollment(
        contact_id=unit.contact.id,
        journey_id=compiled.id,
        version=compiled.version,
        stage=decision.state.stage,
        status=decision.state.status,
        visit=decision.state.visit,
        holdout=decision.state.holdout,
        entered_at=unit.now,
        started_at=unit.now,
    )
    outcome = apply_decision(
        unit, enrollment=enrollment, decision=decision, event_row_id=event_row_id
    )
    outcome.enrolled.append(Enrolled.model_validate(enrollment, from_attributes=True))
    return outcome


def fire_due_timer(
    unit: Work,
    *,
    enrollment: Enrollment,
    compiled: CompiledJourney,
    due_by: datetime | None = None,
) -> Outcome:
    """Fire the enrollment's timer if it was due by `due_by` (default now): from the
    scheduler, and before an event that happened after it (a lagging or stopped scheduler),
    as the first trigger to fire wins."""
    if enrollment.next_due_at is None or enrollment.next_due_at > (due_by or unit.now):
        return unit.outcome
    state, contact = enrollment_state(enrollment), contact_view(unit.contact)
    decision = compiled.on_clock(state, contact, now=unit.now)
    return apply_decision(unit, enrollment=enrollment, decision=decision)


def reschedule(session: Session, *, journeys: JourneyRegistry, contact: Contact) -> None:
    """Recompute timers after a profile change (e.g. a new wedding date)."""
    view = contact_view(contact)
    for enrollment in enrollments_repo.contact_enrollments(session, contact_id=contact.id):
        if enrollment.status != Status.ACTIVE:
            continue
        compiled = journeys.get(enrollment.journey_id, enrollment.version)
        enrollment.next_due_at = compiled.next_due(enrollment_state(enrollment), view)
        session.add(enrollment)
