"""Template preview: a stage's message for a contact or the sample contact."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.ui.deps import ReaderDep, RuntimeDep, SessionDep
from service.ui.pages import email_html, render
from service.ui.preview import preview

router = APIRouter()
Name = Annotated[str | None, Query(max_length=200)]


@router.get("/preview")
def preview_page(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    _: ReaderDep,
    at: Annotated[str | None, Query(max_length=401)] = None,
    journey: Name = None,
    stage: Name = None,
    contact: Name = None,
) -> Response:
    """Pick a journey's stage (and a contact id, or none for the sample), see it rendered."""
    if at:
        journey, _sep, stage = at.partition("/")
    journeys = {j: list(c.journey.stages) for j, c in sorted(runtime.journeys.current.items())}
    shown = None
    if journey and stage:
        shown = preview(session, runtime, journey_id=journey, stage=stage, contact_id=contact)
    return render(
        request,
        "preview.html",
        journeys=journeys,
        chosen={"journey": journey or "", "stage": stage or "", "contact": contact or ""},
        preview=shown,
    )


@router.get("/preview/html")
def preview_html(
    runtime: RuntimeDep,
    session: SessionDep,
    _: ReaderDep,
    journey: Annotated[str, Query(max_length=200)],
    stage: Annotated[str, Query(max_length=200)],
    contact: Name = None,
) -> Response:
    """The previewed email's HTML part, for the sandboxed frame."""
    shown = preview(session, runtime, journey_id=journey, stage=stage, contact_id=contact)
    return email_html(shown.rendered.html if shown.rendered else "")
