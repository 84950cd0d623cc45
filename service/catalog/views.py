"""The read side of journeys: the list, one journey, its diagram and its stuck contacts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.catalog import repository as catalog_repo
from service.catalog.registry import JourneyRegistry
from service.catalog.schemas import JourneyListItem, JourneyOut, StageSummary, StuckEnrollment
from service.engine.core import CompiledJourney
from service.engine.diagram import mermaid
from service.engine.durations import format_duration
from service.engine.model import EventMatch, Stage

OVERDUE_AFTER = timedelta(minutes=5)  # more than a few scheduler passes late
STUCK_LIMIT = 500


def _match(match: EventMatch) -> dict[str, Any]:
    return {"event": match.event, "when": match.when}


def _branches(stage: Stage) -> list[dict[str, Any]]:
    """A split stage's branches, shown beside transitions as where she may go."""
    winner = (
        {"after": format_duration(stage.winner.after), "metric": stage.winner.metric}
        if stage.winner
        else None
    )
    return [
        {"to": arm.to, "split": name, "weight": arm.weight, "winner": winner}
        for name, arm in (stage.split or {}).items()
    ]


def journeys_list(session: Session, registry: JourneyRegistry) -> list[JourneyListItem]:
    """Loaded journeys with active counts per stage of their current version."""
    counts = catalog_repo.active_stage_counts(session)
    items = []
    for journey_id, compiled in sorted(registry.current.items()):
        items.append(
            JourneyListItem(
                id=journey_id,
                version=compiled.version,
                persona=compiled.journey.persona,
                path=compiled.path,
                active_by_stage={
                    stage: counts.get((journey_id, compiled.version, stage), 0)
                    for stage in compiled.journey.stages
                },
            )
        )
    return items


def journey_detail(session: Session, registry: JourneyRegistry, journey_id: str) -> JourneyOut:
    """A journey's current definition, stored versions and live counts."""
    compiled: CompiledJourney = registry.current_of(journey_id)
    journey = compiled.journey
    counts = catalog_repo.active_stage_counts(session)
    versions = [
        {
            "version": v.version,
            "path": v.path,
            "created_at": v.created_at.isoformat(),
            "current": v.version == compiled.version,
            "active": sum(
                n for (j, ver, _), n in counts.items() if j == journey_id and ver == v.version
            ),
        }
        for v in catalog_repo.journey_versions(session, journey_id=journey_id)
    ]
    return JourneyOut(
        id=journey_id,
        version=compiled.version,
        persona=journey.persona,
        description=journey.description,
        entry={**_match(journey.entry), "reenter": journey.entry.reenter},
        exit=[_match(rule) for rule in journey.exit.events],
        goal={**_match(journey.goal), "ends": journey.goal.ends} if journey.goal else None,
        initial=journey.initial,
        stages=[
            StageSummary(
                name=name,
                final=stage.final,
                send=stage.send.model_dump(exclude_none=True) if stage.send else None,
                transitions=[t.summary() for t in stage.on] + _branches(stage),
                active=counts.get((journey_id, compiled.version, name), 0),
            )
            for name, stage in journey.stages.items()
        ],
        versions=versions,
        winners=dict(compiled.winners),
    )


def journey_diagram(session: Session, registry: JourneyRegistry, journey_id: str) -> str:
    """The current version as Mermaid, with active contacts per stage and moves per edge."""
    compiled: CompiledJourney = registry.current_of(journey_id)
    counts = catalog_repo.active_stage_counts(session)
    active = {
        stage: counts.get((journey_id, compiled.version, stage), 0)
        for stage in compiled.journey.stages
    }
    moves = catalog_repo.stage_move_counts(session, journey_id=journey_id, version=compiled.version)
    return mermaid(compiled.journey, active=active, moves=moves)


def stuck_contacts(
    session: Session, registry: JourneyRegistry, journey_id: str, *, now: datetime, idle_days: int
) -> list[StuckEnrollment]:
    """Contacts a journey is not moving: waiting on events alone for `idle_days`, or with a
    timer overdue by more than a few minutes (no scheduler running)."""
    registry.current_of(journey_id)  # 404 for an unknown journey
    overdue_since = now - OVERDUE_AFTER
    rows = catalog_repo.stuck_enrollments(
        session,
        journey_id=journey_id,
        idle_since=now - timedelta(days=idle_days),
        overdue_since=overdue_since,
        limit=STUCK_LIMIT,
    )
    return [
        StuckEnrollment(
            contact_id=e.contact_id,
            enrollment_id=e.id,
            version=e.version,
            stage=e.stage,
            entered_at=e.entered_at,
            next_due_at=e.next_due_at,
            reason=(
                f"timer due {e.next_due_at.isoformat()} has not fired: is a scheduler running?"
                if e.next_due_at is not None
                else f"no timer: waiting only for events since {e.entered_at.isoformat()}"
            ),
        )
        for e in rows
    ]
