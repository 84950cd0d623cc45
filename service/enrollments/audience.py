"""Enrolling an audience: every existing contact a guard matches, in batches of short
transactions, honouring the journey's re-entry policy; a dry run counts the same way."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.contacts.profile import contact_view
from service.engine.core import CompiledJourney, Status
from service.engine.entry import decide_enrolment
from service.engine.guards import Guard, GuardSyntaxError
from service.enrollments import repository as enrollments_repo
from service.enrollments.schemas import AudienceIn, AudienceReport
from service.enrollments.unit import Work, enrollment_state, start_enrollment
from service.errors import InvalidInput
from service.runtime import Runtime
from service.store.models import Contact

BATCH = 500  # contacts read, matched and enrolled per transaction


def enrol_audience(runtime: Runtime, *, journey_id: str, body: AudienceIn) -> AudienceReport:
    """Walk every contact in id order; raises NotFound for an unknown journey and
    InvalidInput (field `where`) for a guard that does not parse."""
    compiled = runtime.journeys.current_of(journey_id)
    try:
        guard = Guard(body.where)
    except GuardSyntaxError as exc:
        raise InvalidInput(str(exc), field="where") from None
    report = AudienceReport(
        journey=compiled.id,
        version=compiled.version,
        dry_run=body.dry_run,
        contacts=0,
        matched=0,
        enrolled=0,
        skipped_reentry=0,
        not_matched=0,
        guard_errors=0,
    )
    after = ""
    while True:
        with runtime.db.session() as session:
            batch = contacts_repo.contacts_after(session, after_id=after, limit=BATCH)
            matching = [c.id for c in batch if _matches(guard, compiled, c, report)]
        if not batch:
            return report
        after = batch[-1].id
        report.contacts += len(batch)
        report.matched += len(matching)
        report.not_matched += len(batch) - len(matching)
        if body.dry_run:
            with runtime.db.session() as session:
                enrolled, skipped = _enrol(
                    session, runtime=runtime, compiled=compiled, ids=matching, dry_run=True
                )
        else:
            enrolled, skipped = runtime.db.write_retrying(
                partial(_enrol, runtime=runtime, compiled=compiled, ids=matching, dry_run=False)
            )
        report.enrolled += enrolled
        report.skipped_reentry += skipped


def _matches(
    guard: Guard, compiled: CompiledJourney, contact: Contact, report: AudienceReport
) -> bool:
    """The guard over one contact (and the journey); a failing guard is no match, counted."""
    context = {
        "contact": contact_view(contact).as_context(),
        "journey": {
            "id": compiled.id,
            "version": compiled.version,
            "persona": compiled.journey.persona,
        },
        "event": {},
        "stage": None,
    }
    ok, error = guard.evaluate(context)
    if error:
        report.guard_errors += 1
        report.first_guard_error = report.first_guard_error or error
    return ok


def _enrol(
    session: Session, *, runtime: Runtime, compiled: CompiledJourney, ids: list[str], dry_run: bool
) -> tuple[int, int]:
    """Enrol the matched contacts of one batch, each locked first (a dry run only counts,
    deciding exactly as the real run would)."""
    enrolled = skipped = 0
    now = runtime.clock.now()
    for contact_id in ids:
        if dry_run:
            contact = contacts_repo.get_contact(session, contact_id=contact_id)
        else:
            contact = contacts_repo.lock_contact(session, contact_id=contact_id)
        if contact is None:  # erased meanwhile
            continue
        if enrol_by_policy(session, contact=contact, compiled=compiled, now=now, dry_run=dry_run):
            enrolled += 1
        else:
            skipped += 1
    return enrolled, skipped


def enrol_by_policy(
    session: Session,
    *,
    contact: Contact,
    compiled: CompiledJourney,
    now: datetime,
    dry_run: bool = False,
) -> bool:
    """Start her in `compiled` unless its re-entry policy refuses; a dry run only decides."""
    mine = enrollments_repo.contact_enrollments(
        session, contact_id=contact.id, journey_id=compiled.id
    )
    active = [enrollment_state(e) for e in mine if e.status == Status.ACTIVE]
    decision = decide_enrolment(
        compiled, contact_view(contact), active=active, enrolled_before=bool(mine), now=now
    )
    if decision is None:
        return False
    if not dry_run:
        start_enrollment(Work(session, contact, now), compiled=compiled, decision=decision)
    return True
