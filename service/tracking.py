"""Website events straight from the browser: a publishable key that may write `web.*` events
only, CORS for configured origins only, and the contact named by a token we signed."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from service.config import Settings
from service.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from service.links import VISITOR, link_secret, read_token, visitor_token
from service.processing import ingest_event
from service.runtime import Runtime
from service.schemas import ContactRef, EventIn, TrackIn, TrackResult

SOURCE = "web"
FORM_SUBMITTED = "web.form_submitted"
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type, X-Nurture-Key",
    "Access-Control-Max-Age": "600",
}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def cors_headers(
    settings: Settings, origin: str | None, *, preflight: bool = False
) -> dict[str, str]:
    """CORS headers for an allowed origin (never a wildcard, never credentials).

    A request without Origin is not from a browser page and needs none; any other origin
    than the configured ones is refused, so no other site can post in a visitor's name.
    """
    if not _csv(settings.track_publishable_keys):
        raise NotFound("website tracking is not configured (NURTURE_TRACK_PUBLISHABLE_KEYS)")
    if origin is None and not preflight:
        return {}
    if origin not in _csv(settings.track_allowed_origins):
        raise Forbidden(f"origin {origin!r} is not in NURTURE_TRACK_ALLOWED_ORIGINS")
    headers = {"Access-Control-Allow-Origin": str(origin), "Vary": "Origin"}
    return headers | PREFLIGHT if preflight else headers


def landing_url(settings: Settings, url: str, *, contact_id: str) -> str:
    """A click's target with the visitor token added, only for sites that run our snippet.

    Sites in NURTURE_TRACK_ALLOWED_ORIGINS read `nt` and send it with POST /track, which
    ties page views there to the contact; links to any other site are left untouched.
    """
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" not in _csv(settings.track_allowed_origins):
        return url
    token = visitor_token(contact_id, secret=link_secret(settings.secret_key))
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("nt", token)])
    return urlunsplit(parts._replace(query=query))


def _check_key(settings: Settings, key: str | None) -> None:
    """Constant-time match against every configured publishable key."""
    given = (key or "").encode()
    matches = [
        hmac.compare_digest(given, k.encode()) for k in _csv(settings.track_publishable_keys)
    ]
    if not any(matches):
        raise Unauthorized("missing or unknown publishable key")


def _contact(settings: Settings, body: TrackIn) -> ContactRef:
    """The signed `nt` token names the contact; a form may name her by the email typed in."""
    if body.token:
        payload = read_token(body.token, secret=link_secret(settings.secret_key), kind=VISITOR)
        return ContactRef(id=str(payload.get("c")))
    if body.email and body.type == FORM_SUBMITTED:
        return ContactRef(email=body.email)
    raise InvalidInput(
        "name the contact with the nt token from our links, or an email on a form submission",
        field="token",
    )


def track_event(runtime: Runtime, body: TrackIn, *, key: str | None) -> TrackResult:
    """Record one browser event through the same processing as POST /events."""
    settings = runtime.settings
    _check_key(settings, key or body.key)
    if not body.type.startswith("web."):
        raise Forbidden("a publishable key may only write web.* events")
    for name in ("email", "attributes"):
        if getattr(body, name) and body.type != FORM_SUBMITTED:
            raise InvalidInput(f"{name} is accepted on {FORM_SUBMITTED} only", field=name)
    event = EventIn(
        id=body.id,
        type=body.type,
        source=SOURCE,
        contact=_contact(settings, body),
        properties=body.properties,
        attributes=body.attributes,
    )
    result = ingest_event(runtime, event)
    return TrackResult(id=result.id, status=result.status)
