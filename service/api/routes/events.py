"""POST /events: canonical events, one or a batch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from service.api.deps import EventsScope, RuntimeDep
from service.processing import check_events, ingest_event
from service.schemas import EventResult, EventResults, EventsIn

router = APIRouter(tags=["events"])

_SIGNUP = {
    "id": "evt-1",
    "type": "web.form_submitted",
    "source": "website",
    "time": "2026-03-01T10:00:00Z",
    "contact": {"email": "ava@example.com"},
    "properties": {"form": "wedding-signup"},
    "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
}
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
    summary="Ingest one event or a batch of up to 1000",
)
def post_events(
    body: Annotated[
        EventsIn,
        Body(
            openapi_examples={
                "one": {"summary": "One event", "value": _SIGNUP},
                "batch": {"summary": "A batch", "value": {"events": [_SIGNUP, _CLICK]}},
            }
        ),
    ],
    runtime: RuntimeDep,
) -> EventResult | EventResults:
    """Each event is applied in its own transaction; a redelivered one is reported duplicate."""
    check_events(runtime, body.events)
    results = [ingest_event(runtime, event) for event in body.events]
    return results[0] if body.single else EventResults(results=results)
