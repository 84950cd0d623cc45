"""Finding a contact, her page, her messages, and the operator's actions on her."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.enrollments import actions
from service.errors import InvalidInput
from service.ui import contact_page as pages
from service.ui.deps import FormDep, ReaderDep, RuntimeDep, SessionDep, WriterDep
from service.ui.pages import PREFIX, email_html, redirect, render

router = APIRouter()
NOTICES = {
    "moved": "Moved. The new stage's message is queued as usual.",
    "exited": "She left the journey; her unsent messages were canceled.",
    "enrolled": "Enrolled in the journey's current version.",
}


@router.get("/contacts")
def search(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    _: ReaderDep,
    by: Annotated[str, Query(max_length=20)] = "email",
    q: Annotated[str | None, Query(max_length=320)] = None,
) -> Response:
    """The search form; a match opens her page."""
    if q is None:
        return render(request, "contacts.html", by=by, q="", fields=pages.SEARCH_FIELDS)
    contact = pages.find(session, runtime, by=by, query=q)
    return redirect(f"{PREFIX}/contacts/{contact.id}")


@router.get("/contacts/{contact_id}")
def contact(
    request: Request,
    contact_id: str,
    runtime: RuntimeDep,
    session: SessionDep,
    _: ReaderDep,
    notice: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Her attributes, consent, enrollments and timeline, with the actions on her."""
    page = pages.contact_page(session, runtime, contact_id)
    return render(request, "contact.html", notice=NOTICES.get(notice or ""), **page)


@router.get("/contacts/{contact_id}/messages/{message_id}")
def message(
    request: Request, contact_id: str, message_id: str, session: SessionDep, _: ReaderDep
) -> Response:
    """One message as it was rendered for her."""
    return render(request, "message.html", **pages.message_page(session, contact_id, message_id))


@router.get("/contacts/{contact_id}/messages/{message_id}/html")
def message_html(contact_id: str, message_id: str, session: SessionDep, _: ReaderDep) -> Response:
    """The HTML part alone, for the sandboxed frame on the message page."""
    found = pages.contact_message(session, contact_id, message_id)
    return email_html(found.html or "")


def _confirmed(fields: dict[str, str]) -> str:
    if fields.get("confirm") != "yes":
        raise InvalidInput("tick the box to confirm; nothing was changed", field="confirm")
    journey = fields.get("journey", "")
    if not journey:
        raise InvalidInput("choose a journey", field="journey")
    return journey


@router.post("/contacts/{contact_id}/move")
def move(contact_id: str, _: WriterDep, runtime: RuntimeDep, fields: FormDep) -> Response:
    """Move her active enrollment to a stage, as POST .../move does."""
    journey = _confirmed(fields)
    actions.move(runtime, contact_id=contact_id, journey_id=journey, stage=fields.get("stage", ""))
    return redirect(f"{PREFIX}/contacts/{contact_id}?notice=moved")


@router.post("/contacts/{contact_id}/exit")
def exit_journey(contact_id: str, _: WriterDep, runtime: RuntimeDep, fields: FormDep) -> Response:
    """Take her out of a journey, as POST .../exit does."""
    journey = _confirmed(fields)
    actions.exit_journey(runtime, contact_id=contact_id, journey_id=journey)
    return redirect(f"{PREFIX}/contacts/{contact_id}?notice=exited")


@router.post("/contacts/{contact_id}/enrol")
def enrol(contact_id: str, _: WriterDep, runtime: RuntimeDep, fields: FormDep) -> Response:
    """Enrol her in a journey's current version, as POST .../enrollments does."""
    journey = _confirmed(fields)
    actions.enroll(runtime, contact_id=contact_id, journey_id=journey)
    return redirect(f"{PREFIX}/contacts/{contact_id}?notice=enrolled")
