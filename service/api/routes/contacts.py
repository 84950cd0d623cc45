"""Contacts: upsert, profile changes, state, timeline, messages and manual steering."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import EventsScope, ReadScope, RuntimeDep, SessionDep, WriteScope
from service.contacts import erasure
from service.contacts.schemas import ContactIn, ContactPatch
from service.enrollments import actions, profiles
from service.enrollments.schemas import ActionResult, EnrollIn, MoveIn
from service.enrollments.unit import Outcome
from service.reads import contact as views
from service.reads.schemas import ContactOut, MessageOut, TimelineEntry

router = APIRouter(prefix="/contacts", tags=["contacts"])


def _result(contact_id: str, outcome: Outcome) -> ActionResult:
    return ActionResult(contact_id=contact_id, moved=outcome.moved, enrolled=outcome.enrolled)


@router.post("", response_model=ContactOut, dependencies=[EventsScope])
def upsert_contact(
    body: ContactIn, runtime: RuntimeDep, session: SessionDep, response: Response
) -> ContactOut:
    """Create or update a contact found by any identifier (201 when created)."""
    contact, created = profiles.upsert_contact(runtime, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return views.contact_out(session, views.require_contact(session, contact.id))


@router.patch("/{contact_id}", response_model=ContactOut, dependencies=[EventsScope])
def patch_contact(
    contact_id: str, body: ContactPatch, runtime: RuntimeDep, session: SessionDep
) -> ContactOut:
    """Merge attributes (null removes one), set persona or timezone; timers follow."""
    profiles.patch_contact(runtime, contact_id, body)
    return views.contact_out(session, views.require_contact(session, contact_id))


@router.get("", response_model=ContactOut, dependencies=[ReadScope])
def find_contact(
    session: SessionDep,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
) -> ContactOut:
    """Look a contact up by exactly one identifier (for agents and integrations)."""
    contact = views.find_contact(session, email=email, phone=phone, external_id=external_id)
    return views.contact_out(session, contact)


@router.get("/{contact_id}", response_model=ContactOut, dependencies=[ReadScope])
def get_contact(contact_id: str, session: SessionDep) -> ContactOut:
    """A contact with consents and where she stands in each journey."""
    return views.contact_out(session, views.require_contact(session, contact_id))


@router.delete("/{contact_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteScope])
def erase_contact(contact_id: str, runtime: RuntimeDep) -> Response:
    """Right to erasure: the contact and all her data are deleted for good."""
    erasure.erase_contact(runtime.db, contact_id=contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/timeline", response_model=list[TimelineEntry], dependencies=[ReadScope])
def get_timeline(contact_id: str, session: SessionDep) -> list[TimelineEntry]:
    """Events, moves and messages in time order."""
    return views.timeline(session, contact_id)


@router.get("/{contact_id}/messages", response_model=list[MessageOut], dependencies=[ReadScope])
def get_messages(contact_id: str, session: SessionDep) -> list[MessageOut]:
    """The contact's outbox rows with rendered parts and status."""
    return views.contact_messages(session, contact_id)


@router.post(
    "/{contact_id}/enrollments",
    response_model=ActionResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteScope],
)
def enroll(contact_id: str, body: EnrollIn, runtime: RuntimeDep) -> ActionResult:
    """Enrol by hand in a journey's current version."""
    outcome = actions.enroll(runtime, contact_id=contact_id, journey_id=body.journey)
    return _result(contact_id, outcome)


@router.post(
    "/{contact_id}/enrollments/{journey_id}/move",
    response_model=ActionResult,
    dependencies=[WriteScope],
)
def move(contact_id: str, journey_id: str, body: MoveIn, runtime: RuntimeDep) -> ActionResult:
    """Move the active enrollment to a stage; the stage's message is queued as usual."""
    outcome = actions.move(runtime, contact_id=contact_id, journey_id=journey_id, stage=body.stage)
    return _result(contact_id, outcome)


@router.post(
    "/{contact_id}/enrollments/{journey_id}/exit",
    response_model=ActionResult,
    dependencies=[WriteScope],
)
def exit_journey(contact_id: str, journey_id: str, runtime: RuntimeDep) -> ActionResult:
    """End the active enrollment early; unsent messages are canceled."""
    outcome = actions.exit_journey(runtime, contact_id=contact_id, journey_id=journey_id)
    return _result(contact_id, outcome)
