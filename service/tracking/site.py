"""Website events straight from the browser: a publishable key that may write `web.*` events
only, CORS for configured origins only, and the contact named by a token we signed."""

from __future__ import annotations

import hmac
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from service.contacts import repository as contacts_repo
from service.contacts.profile import check_date_attributes
from service.enrollments.ingest import ingest_event
from service.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from service.runtime import Runtime
from service.schemas import ContactRef, EventIn, TrackIn, TrackResult
from service.tracking.links import link_secret, read_visitor_token, visitor_token
from service.tracking.settings import SiteSettings, TrackingSettings

SOURCE = "web"
FORM_SUBMITTED = "web.form_submitted"
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type, X-Nurture-Key",
    "Access-Control-Max-Age": "600",
}


def cors_headers(
    settings: TrackingSettings, origin: str | None, *, preflight: bool = False
) -> dict[str, str]:
    """CORS headers for an allowed origin (never a wildcard, never credentials).

    A request without Origin is not from a browser page and needs none; any other origin
    than the configured ones is refused, so no other site can post in a visitor's name.
    """
    if not settings.track_publishable_keys:
        raise NotFound("website tracking is not configured (NURTURE_TRACK_PUBLISHABLE_KEYS)")
    if origin is None and not preflight:
        return {}
    if origin not in settings.track_allowed_origins:
        raise Forbidden(f"origin {origin!r} is not in NURTURE_TRACK_ALLOWED_ORIGINS")
    headers = {"Access-Control-Allow-Origin": str(origin), "Vary": "Origin"}
    return headers | PREFLIGHT if preflight else headers


def landing_url(settings: SiteSettings, url: str, *, contact_id: str, now: datetime) -> str:
    """A click's target with the visitor token added, only for sites that run our snippet.

    Sites in NURTURE_TRACK_ALLOWED_ORIGINS read `nt` and send it with POST /track, which
    ties page views there to the contact; links to any other site are left untouched.
    """
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" not in settings.track_allowed_origins:
        return url
    token = visitor_token(contact_id, secret=link_secret(settings.secret_key), issued_at=now)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("nt", token)])
    return urlunsplit(parts._replace(query=query))


def check_publishable_key(settings: TrackingSettings, key: str | None) -> None:
    """Constant-time match against every configured publishable key."""
    given = (key or "").encode()
    matches = [hmac.compare_digest(given, k.encode()) for k in settings.track_publishable_keys]
    if not any(matches):
        raise Unauthorized("missing or unknown publishable key")


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


def track_event(runtime: Runtime, body: TrackIn, *, key: str | None) -> TrackResult:
    """Record one browser event through the same processing as POST /events."""
    settings = runtime.settings
    check_publishable_key(settings, key or body.key)
    if not body.type.startswith("web."):
        raise Forbidden("a publishable key may only write web.* events")
    for name in ("email", "attributes"):
        if getattr(body, name) and body.type != FORM_SUBMITTED:
            raise InvalidInput(f"{name} is accepted on {FORM_SUBMITTED} only", field=name)
    event = EventIn(
        id=body.id,
        type=body.type,
        source=SOURCE,
        contact=_contact(runtime, body),
        properties=body.properties,
        attributes=body.attributes,
    )
    # Anyone can type an address into a form: by email alone, only fill in what is missing.
    check_date_attributes(
        runtime.journeys.date_attributes, body.attributes, field_prefix="attributes"
    )
    result = ingest_event(runtime, event, add_attributes_only=event.contact.id is None)
    return TrackResult(id=result.id, status=result.status)
