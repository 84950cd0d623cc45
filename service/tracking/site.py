"""What the shop's own site may do: CORS for configured origins only, publishable keys, and
click-throughs carrying the visitor token to pages that run our snippet."""

from __future__ import annotations

import hmac
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from service.errors import Forbidden, NotFound, Unauthorized
from service.tracking.links import link_secret, visitor_token
from service.tracking.settings import SiteSettings, TrackingSettings

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
