"""POST /events: canonical events, one or a batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from service.api.deps import EventsScope, RuntimeDep
from service.api.errors import error_responses
from service.enrollments.ingest import check_events, ingest_event
from service.enrollments.schemas import EventResult, EventResults
from service.schemas import EVENT_EXAMPLE, MAX_BATCH, EventsIn

router = APIRouter(tags=["events"])

_CLICK = {
    "id": "sg-991",
    "type": "email.clicked",
    "source": "sendgrid",
    "time": "2026-03-02T08:30:00Z",
    "contact": {"email": "ava@example.com"},
    "properties": {"link": "favors"},
}


@router.post(
    "/events",
    response_model=EventResult | EventResults,
    dependencies=[EventsScope],
    summary=f"Ingest one event or a batch of up to {MAX_BATCH}",
    responses=error_responses(
        400,
        401,
        403,
        409,
        413,
        422,
        503,
        e409="An event id already used under its source for another type; nothing was stored",
        e422="A value is invalid; each problem names its field (events.<index>.<field>) and "
        "nothing of the batch was stored",
    ),
)
def post_events(
    body: Annotated[
        EventsIn,
        Body(
            openapi_examples={
                "one": {"summary": "One event", "value": EVENT_EXAMPLE},
                "batch": {"summary": "A batch", "value": {"events": [EVENT_EXAMPLE, _CLICK]}},
            }
        ),
    ],
    runtime: RuntimeDep,
) -> EventResult | EventResults:
    """A batch is checked whole before any event takes effect, so a bad event stores
    nothing; then each is applied in its own transaction, a redelivered one reported
    duplicate."""
    check_events(runtime, body.events)
    results = [ingest_event(runtime, event) for event in body.events]
    return results[0] if body.single else EventResults(results=results)
