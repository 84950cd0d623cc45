"""Website events straight from the browser (POST /track): a publishable key that may write
`web.*` events only, and the contact named by a token we signed; checked, then stored in the
inbox and answered at once, applied by an applier like POST /events."""

from __future__ import annotations

from pydantic import ValidationError

from service.contacts import repository as contacts_repo
from service.enrollments.acceptor import Acceptor
from service.enrollments.ingest import check_accepting
from service.errors import Forbidden, InvalidInput
from service.runtime import Runtime
from service.schemas import ContactRef, EventIn, TrackIn, TrackResult
from service.tracking.links import link_secret, read_visitor_token
from service.tracking.site import check_publishable_key

SOURCE = "web"
FORM_SUBMITTED = "web.form_submitted"


def _contact(runtime: Runtime, body: TrackIn) -> ContactRef:
    """The signed `nt` token names the contact; a form may name her by the email typed in."""
    if body.token:
        secret = link_secret(runtime.settings.secret_key)
        contact_id = read_visitor_token(body.token, secret=secret, now=runtime.clock.now())
        if body.email:
            _check_same_contact(runtime, contact_id, email=body.email)
        return ContactRef(id=contact_id)
    if body.email and body.type == FORM_SUBMITTED:
        return ContactRef(email=body.email)
    raise InvalidInput(
        "name the contact with the nt token from our links, or an email on a form submission",
        field="token",
    )


def _check_same_contact(runtime: Runtime, contact_id: str, *, email: str) -> None:
    """Refuse an email that belongs to another contact than the token: someone else's
    browser must not act for her."""
    with runtime.db.session() as session:
        owner = contacts_repo.identifier_owner(session, field="email", value=email)
    if owner is not None and owner != contact_id:
        raise InvalidInput("this email belongs to another contact than the visitor", field="email")


def track_event(
    runtime: Runtime, acceptor: Acceptor, body: TrackIn, *, key: str | None
) -> TrackResult:
    """Check one browser event and store it in the inbox (blocking: from a worker thread)."""
    settings = runtime.settings
    check_publishable_key(settings, key or body.key)
    if not body.type.startswith("web."):
        raise Forbidden("a publishable key may only write web.* events")
    for name in ("email", "attributes"):
        if getattr(body, name) and body.type != FORM_SUBMITTED:
            raise InvalidInput(f"{name} is accepted on {FORM_SUBMITTED} only", field=name)
    try:
        event = EventIn(
            id=body.id,
            type=body.type,
            source=SOURCE,
            contact=_contact(runtime, body),
            properties=body.properties,
            attributes=body.attributes,
        )
    except ValidationError as exc:  # e.g. a timezone in the form's attributes that is none
        problem = exc.errors()[0]
        field = ".".join(str(part) for part in problem["loc"]) or "attributes"
        raise InvalidInput(problem["msg"], field=field) from None
    check_accepting(runtime, [event], where="")
    # Anyone can type an address into a form: by email alone, only fill in what is missing.
    [stored] = acceptor.store([event], add_attributes_only=event.contact.id is None)
    return TrackResult(id=stored.id, status=stored.status)
