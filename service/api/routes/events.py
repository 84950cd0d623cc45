"""POST /events: canonical events, one or a batch, stored at once and applied in order."""

from __future__ import annotations

import asyncio
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Response

from service.api.deps import AcceptorDep, EventsScope, ProcessRuntimeDep, WaitDep
from service.api.errors import error_responses
from service.enrollments.inbox import wait_for
from service.enrollments.ingest import check_accepting, check_events
from service.enrollments.schemas import EventAccepted, EventResult, EventResults, EventsAccepted
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
    status_code=202,
    response_model=EventAccepted | EventsAccepted,
    dependencies=[EventsScope],
    summary=f"Accept one event or a batch of up to {MAX_BATCH}",
    responses={
        200: {
            "model": EventResult | EventResults,
            "description": "With `?wait=true` or `Prefer: wait=N`: what each event did, once "
            "applied (a wait that runs out answers 202)",
        },
        **error_responses(
            400,
            401,
            403,
            409,
            413,
            422,
            503,
            e409="An event id already used under its source for another type; nothing of "
            "the request was stored",
            e422="A value is invalid; each problem names its field (events.<index>.<field>) "
            "and nothing of the request was stored (when waiting, a problem found only as an "
            "event is applied is answered the same way, the others applied)",
        ),
    },
)
async def post_events(
    body: Annotated[
        EventsIn,
        Body(
            openapi_examples={
                "one": {"summary": "One event", "value": EVENT_EXAMPLE},
                "batch": {"summary": "A batch", "value": {"events": [EVENT_EXAMPLE, _CLICK]}},
            }
        ),
    ],
    runtime: ProcessRuntimeDep,
    acceptor: AcceptorDep,
    wait: WaitDep,
) -> Response:
    """Each event is stored once (a redelivery is answered duplicate) and applied by an
    applier, one contact's events in the order stored; a request with a bad event stores
    nothing. A waiting caller gets the decisions as the event used to be answered."""
    if wait is not None:
        await asyncio.to_thread(check_events, runtime, body.events)
    elif any(event.contact.id for event in body.events):
        await asyncio.to_thread(check_accepting, runtime, body.events)
    else:
        check_accepting(runtime, body.events)  # dates alone: no database read
    accepted = await acceptor.accept(body.events)
    if wait is not None:
        decided = await asyncio.to_thread(wait_for, runtime, accepted, seconds=wait)
        if decided is not None:
            answer = decided[0] if body.single else EventResults(results=decided)
            return Response(answer.model_dump_json(), media_type="application/json")
    answers = [item.answer() for item in accepted]
    content = answers[0] if body.single else {"results": answers}
    return Response(orjson.dumps(content), status_code=202, media_type="application/json")
