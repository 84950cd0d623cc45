"""Journeys: what is loaded, and where contacts stand in it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from service.api.deps import ReadScope, RuntimeDep, SessionDep, WriteScope
from service.api.errors import error_responses
from service.api.params import JourneyId
from service.catalog import views
from service.catalog.reload import reload_journeys
from service.catalog.schemas import JourneyListItem, JourneyOut, ReloadReport, StuckEnrollment
from service.enrollments.audience import enrol_audience
from service.enrollments.migration import migrate_journey
from service.enrollments.schemas import AudienceIn, AudienceReport, MigrateIn, MigrationReport

router = APIRouter(prefix="/journeys", tags=["journeys"])
_READ = error_responses(401, 403, 404, 422, 503)


@router.get(
    "",
    response_model=list[JourneyListItem],
    dependencies=[ReadScope],
    responses=error_responses(401, 403, 503),
)
def list_journeys(runtime: RuntimeDep, session: SessionDep) -> list[JourneyListItem]:
    """Loaded journeys with their version and active contacts per stage."""
    return views.journeys_list(session, runtime.journeys)


@router.post(
    "/reload",
    response_model=ReloadReport,
    dependencies=[WriteScope],
    responses=error_responses(
        401, 403, 422, 503, e422="A journey or template is invalid; nothing changed"
    ),
)
def reload(runtime: RuntimeDep) -> ReloadReport:
    """Validate every journey and template, then make the files the current versions for new
    entries; enrolled contacts stay on their version. Any problem changes nothing (422)."""
    return reload_journeys(runtime)


@router.get("/{journey_id}", response_model=JourneyOut, dependencies=[ReadScope], responses=_READ)
def get_journey(journey_id: JourneyId, runtime: RuntimeDep, session: SessionDep) -> JourneyOut:
    """Stages, transitions, stored versions and live counts of one journey."""
    return views.journey_detail(session, runtime.journeys, journey_id)


@router.get(
    "/{journey_id}/diagram",
    response_class=PlainTextResponse,
    dependencies=[ReadScope],
    responses={200: {"content": {"text/plain": {}}}, **_READ},
)
def journey_diagram(journey_id: JourneyId, runtime: RuntimeDep, session: SessionDep) -> str:
    """A Mermaid flowchart of the current version with live stage and move counts."""
    return views.journey_diagram(session, runtime.journeys, journey_id)


@router.get(
    "/{journey_id}/stuck",
    response_model=list[StuckEnrollment],
    dependencies=[ReadScope],
    responses=_READ,
)
def stuck_contacts(
    journey_id: JourneyId,
    runtime: RuntimeDep,
    session: SessionDep,
    idle_days: Annotated[int, Query(ge=1, le=3650)] = 30,
) -> list[StuckEnrollment]:
    """Contacts nothing will move: no timer and idle for `idle_days`, or a timer overdue."""
    return views.stuck_contacts(
        session, runtime.journeys, journey_id, now=runtime.clock.now(), idle_days=idle_days
    )


@router.post(
    "/{journey_id}/migrate",
    response_model=MigrationReport,
    dependencies=[WriteScope],
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503),
)
def migrate(journey_id: JourneyId, body: MigrateIn, runtime: RuntimeDep) -> MigrationReport:
    """Move contacts on older versions onto the current one; `dry_run` (default) only counts."""
    return migrate_journey(runtime, journey_id=journey_id, body=body)


@router.post(
    "/{journey_id}/enroll",
    response_model=AudienceReport,
    dependencies=[WriteScope],
    responses=error_responses(400, 401, 403, 404, 413, 422, 503),
)
def enroll_audience(journey_id: JourneyId, body: AudienceIn, runtime: RuntimeDep) -> AudienceReport:
    """Enrol every existing contact the `where` guard matches, as the journey's re-entry
    policy allows (never ending an active enrollment); `dry_run` (default) only counts."""
    return enrol_audience(runtime, journey_id=journey_id, body=body)
