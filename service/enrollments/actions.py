"""Operator actions on an enrollment (enrol, move, exit) and the scheduler's due timers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.contacts.identity import locked_contact
from service.contacts.profile import contact_view
from service.engine.core import CompiledJourney, Decision, Status
from service.enrollments import repository as enrollments_repo
from service.enrollments.unit import (
    Outcome,
    Work,
    apply_decision,
    enrollment_state,
    fire_due_timer,
    start_enrollment,
)
from service.errors import Conflict, InvalidInput, NotFound
from service.runtime import Runtime
from service.store.db import WRITE_ATTEMPTS
from service.store.models import Contact, Enrollment


def _fire_claimed(
    runtime: Runtime,
    session: Session,
    *,
    contact: Contact | None,
    enrollment: Enrollment | None,
    contact_id: str,
    now: datetime,
) -> Outcome:
    """Fire one claimed enrollment's timer (read fresh under her lock), if it is still due,
    and release the claim."""
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    unit = Work(session, contact, now)
    if enrollment is None:
        return unit.outcome
    enrollment.claimed_until = None
    session.add(enrollment)
    if enrollment.status != Status.ACTIVE:
        return unit.outcome
    compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
    return fire_due_timer(unit, enrollment=enrollment, compiled=compiled)


def run_timer(runtime: Runtime, *, enrollment_id: str, contact_id: str, now: datetime) -> Outcome:
    """Fire a claimed enrollment's due timer, if it is still due, and release the claim."""
    runtime.journeys.refresh()  # every scheduler follows reloads and experiment winners

    def work(session: Session) -> Outcome:
        contact = locked_contact(session, contact_id)
        enrollment = enrollments_repo.get_enrollment(session, enrollment_id=enrollment_id)
        if enrollment is not None:
            session.refresh(enrollment)
        return _fire_claimed(
            runtime, session, contact=contact, enrollment=enrollment, contact_id=contact_id, now=now
        )

    return runtime.db.write_retrying(work)


def run_timers(
    runtime: Runtime,
    *,
    claimed: Sequence[tuple[str, str]],
    now: datetime,
    stopping: Callable[[], bool] = lambda: False,
) -> dict[str, Outcome | Exception]:
    """Fire a batch of claimed timers in one transaction, each in its own savepoint so one
    that fails (its claim then runs out and it is retried) spoils none of the others; each
    fired enrollment's outcome or error. The batch's contacts are locked in id order in one
    statement, as every batch does, so two workers' batches never wait in a cycle, and its
    enrollments are read in one more."""
    runtime.journeys.refresh()  # every scheduler follows reloads and experiment winners
    results: dict[str, Outcome | Exception] = {}
    with runtime.db.write() as session:
        contact_ids = sorted({contact_id for _, contact_id in claimed})
        contacts = contacts_repo.lock_contacts(session, contact_ids=contact_ids)
        enrollments = enrollments_repo.get_enrollments(
            session, enrollment_ids=[enrollment_id for enrollment_id, _ in claimed]
        )
        for enrollment_id, contact_id in sorted(claimed, key=lambda pair: (pair[1], pair[0])):
            if stopping():
                break  # the rest of the claims run out and are fired by a later pass
            fire = partial(
                _fire_claimed,
                runtime,
                session,
                contact=contacts.get(contact_id),
                enrollment=enrollments.get(enrollment_id),
                contact_id=contact_id,
                now=now,
            )
            results[enrollment_id] = _savepoint(session, fire)
    return results


def _savepoint(session: Session, work: Callable[[], Outcome]) -> Outcome | Exception:
    """Run one timer's work in a savepoint, again if a concurrent writer won a race; the
    error when it still fails, its writes undone."""
    error: Exception = AssertionError("unreachable")
    for _ in range(WRITE_ATTEMPTS):
        try:
            with session.begin_nested():
                return work()
        except (IntegrityError, OperationalError) as exc:
            error = exc
        except Exception as exc:
            return exc
    return error


def enroll(runtime: Runtime, *, contact_id: str, journey_id: str) -> Outcome:
    """Enrol a contact by hand in a journey's current version (not while one is active)."""
    compiled = runtime.journeys.current_of(journey_id)

    def work(session: Session) -> Outcome:
        contact = locked_contact(session, contact_id)
        existing = enrollments_repo.contact_enrollments(
            session, contact_id=contact_id, journey_id=journey_id
        )
        if any(e.status == Status.ACTIVE for e in existing):
            raise Conflict(f"the contact is already active in journey '{journey_id}'")
        now = runtime.clock.now()
        decision = compiled.start(contact_view(contact), now=now)
        return start_enrollment(Work(session, contact, now), compiled=compiled, decision=decision)

    return runtime.db.write_retrying(work)


def _active_enrollment(session: Session, *, contact_id: str, journey_id: str) -> Enrollment:
    for enrollment in enrollments_repo.contact_enrollments(
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
        contact = locked_contact(session, contact_id)
        enrollment = _active_enrollment(session, contact_id=contact_id, journey_id=journey_id)
        compiled = runtime.journeys.get(journey_id, enrollment.version)
        now = runtime.clock.now()
        decision = decide(compiled, enrollment, contact, now)
        unit = Work(session, contact, now)
        return apply_decision(unit, enrollment=enrollment, decision=decision)

    return runtime.db.write_retrying(work)


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
