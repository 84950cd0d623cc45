"""Enrolling an audience: every existing contact a guard matches, in batches of short
transactions, honouring the journey's re-entry policy; a dry run counts the same way."""

from __future__ import annotations

from functools import partial

from service.contacts import repository as contacts_repo
from service.contacts.profile import contact_view
from service.engine.core import CompiledJourney
from service.engine.guards import Guard, GuardSyntaxError
from service.enrollments import bulk
from service.enrollments.schemas import AudienceIn, AudienceReport
from service.errors import InvalidInput
from service.runtime import Runtime
from service.store.models import Contact

BATCH = 1000  # contacts read, matched and enrolled per transaction


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
        enrol = partial(
            bulk.enrol_contacts,
            runtime=runtime,
            compiled=compiled,
            contact_ids=matching,
            dry_run=body.dry_run,
        )
        if body.dry_run:
            with runtime.db.session() as session:
                enrolled, skipped = enrol(session)
        else:
            enrolled, skipped = runtime.db.write_retrying(enrol)
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
