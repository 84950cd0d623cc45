"""Version migration: active enrollments of older versions moved onto the current one."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session

from service.contacts.identity import locked_contact
from service.contacts.profile import contact_view
from service.engine.core import CompiledJourney, Status
from service.enrollments import repository as enrollments_repo
from service.enrollments.schemas import MigrateIn, MigrationReport
from service.enrollments.unit import Work, apply_decision, enrollment_state
from service.errors import InvalidInput
from service.runtime import Runtime


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
        rows = enrollments_repo.enrollments_to_migrate(
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
        elif body.dry_run or adopt(
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


def adopt(
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
        contact = locked_contact(session, contact_id)
        enrollment = enrollments_repo.get_enrollment(session, enrollment_id=enrollment_id)
        if enrollment is None or enrollment.status != Status.ACTIVE:
            return False
        session.refresh(enrollment)
        if (enrollment.version, enrollment.stage) != listed:
            return False
        now = runtime.clock.now()
        decision = current.adopt(
            enrollment_state(enrollment), contact_view(contact), stage=stage, now=now
        )
        apply_decision(Work(session, contact, now), enrollment=enrollment, decision=decision)
        return True

    return runtime.db.write_retrying(work)
