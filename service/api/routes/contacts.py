"""Contacts: upsert, profile changes, state, timeline, messages and manual steering."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service.api.deps import ApiKeyDep, EventsScope, ReadScope, RuntimeDep, SessionDep, WriteScope
from service.api.errors import error_responses
from service.api.params import (
    LOOKUP_OPENAPI,
    ContactId,
    EmailQuery,
    ExternalIdQuery,
    JourneyId,
    PhoneQuery,
)
from service.contacts.schemas import ContactIn, ContactPatch, ContactWritten, written_fields
from service.enrollments import actions, erasure, profiles
from service.enrollments.schemas import ActionResult, EnrollIn, MoveIn
from service.enrollments.unit import Outcome
from service.reads import contact as views
from service.reads.schemas import ContactOut, MessageOut, TimelineEntry
from service.schemas import ProfileBody

router = APIRouter(prefix="/contacts", tags=["contacts"])
# Whole profiles go only to keys that may read them; a write-only caller learns what it set.
_WRITE_ANSWER = "The contact with the `read` scope; without it only her id and what was set"
_READ = error_responses(401, 403, 404, 422, 503)
_ACT = error_responses(400, 401, 403, 404, 409, 413, 422, 503)


def _result(contact_id: str, outcome: Outcome) -> ActionResult:
    return ActionResult(contact_id=contact_id, moved=outcome.moved, enrolled=outcome.enrolled)


def _answer(
    key: ApiKeyDep, session: SessionDep, contact_id: str, body: ProfileBody, *, created: bool
) -> ContactOut | ContactWritten:
    if "read" not in key.scopes:
        return ContactWritten(id=contact_id, created=created, changed=written_fields(body))
    return views.contact_out(session, views.require_contact(session, contact_id))


@router.post(
    "",
    dependencies=[EventsScope],
    responses={
        200: {"description": _WRITE_ANSWER},
        201: {"model": ContactOut | ContactWritten, "description": f"Created. {_WRITE_ANSWER}"},
        **_ACT,
    },
)
def upsert_contact(
    body: ContactIn, runtime: RuntimeDep, session: SessionDep, response: Response, key: ApiKeyDep
) -> ContactOut | ContactWritten:
    """Create or update a contact found by any identifier (201 when created)."""
    contact, created = profiles.upsert_contact(runtime, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return _answer(key, session, contact.id, body, created=created)


@router.patch(
    "/{contact_id}",
    dependencies=[EventsScope],
    responses={200: {"description": _WRITE_ANSWER}, **_ACT},
)
def patch_contact(
    contact_id: ContactId,
    body: ContactPatch,
    runtime: RuntimeDep,
    session: SessionDep,
    key: ApiKeyDep,
) -> ContactOut | ContactWritten:
    """Merge attributes (null removes one), set persona or timezone; timers follow."""
    profiles.patch_contact(runtime, contact_id, body)
    return _answer(key, session, contact_id, body, created=False)


@router.get(
    "",
    dependencies=[ReadScope],
    responses=_READ,
    openapi_extra=LOOKUP_OPENAPI,
)
def find_contact(
    session: SessionDep,
    email: EmailQuery = None,
    phone: PhoneQuery = None,
    external_id: ExternalIdQuery = None,
) -> ContactOut:
    """Look a contact up by exactly one identifier (for agents and integrations)."""
    contact = views.find_contact(session, email=email, phone=phone, external_id=external_id)
    return views.contact_out(session, contact)


@router.get("/{contact_id}", dependencies=[ReadScope], responses=_READ)
def get_contact(contact_id: ContactId, session: SessionDep) -> ContactOut:
    """A contact with consents and where she stands in each journey."""
    return views.contact_out(session, views.require_contact(session, contact_id))


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[WriteScope],
    responses=_READ,
)
def erase_contact(contact_id: ContactId, runtime: RuntimeDep) -> Response:
    """Right to erasure: her personal data deleted for good, her history kept anonymised."""
    erasure.erase_contact(runtime, contact_id=contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{contact_id}/timeline", dependencies=[ReadScope], responses=_READ)
def get_timeline(contact_id: ContactId, session: SessionDep) -> list[TimelineEntry]:
    """Events, moves and messages in time order."""
    return views.timeline(session, contact_id)


@router.get("/{contact_id}/messages", dependencies=[ReadScope], responses=_READ)
def get_messages(contact_id: ContactId, session: SessionDep) -> list[MessageOut]:
    """The contact's outbox rows with rendered parts and status."""
    return views.contact_messages(session, contact_id)


@router.post(
    "/{contact_id}/enrollments",
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteScope],
    responses=_ACT,
)
def enroll(contact_id: ContactId, body: EnrollIn, runtime: RuntimeDep) -> ActionResult:
    """Enrol by hand in a journey's current version."""
    outcome = actions.enroll(runtime, contact_id=contact_id, journey_id=body.journey)
    return _result(contact_id, outcome)


@router.post(
    "/{contact_id}/enrollments/{journey_id}/move", dependencies=[WriteScope], responses=_ACT
)
def move(
    contact_id: ContactId, journey_id: JourneyId, body: MoveIn, runtime: RuntimeDep
) -> ActionResult:
    """Move the active enrollment to a stage; the stage's message is queued as usual."""
    outcome = actions.move(runtime, contact_id=contact_id, journey_id=journey_id, stage=body.stage)
    return _result(contact_id, outcome)


@router.post(
    "/{contact_id}/enrollments/{journey_id}/exit", dependencies=[WriteScope], responses=_ACT
)
def exit_journey(contact_id: ContactId, journey_id: JourneyId, runtime: RuntimeDep) -> ActionResult:
    """End the active enrollment early; unsent messages are canceled."""
    outcome = actions.exit_journey(runtime, contact_id=contact_id, journey_id=journey_id)
    return _result(contact_id, outcome)
