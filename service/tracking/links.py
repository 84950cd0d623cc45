"""Signed links in sent messages: one-click unsubscribe and click tracking.

A token carries its purpose, the message and the contact, and an HMAC-SHA256 over all of
it, so nobody can forge a click or an unsubscribe for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from service.errors import Forbidden, InvalidInput

UNSUBSCRIBE = "u"
CLICK = "c"
OPEN = "o"
VISITOR = "t"  # the `nt` parameter on landing pages: names the contact to nurture.js
# Only for trying the product locally: anyone can read it here, so start-up warns when it is used.
DEV_SECRET = "nurture-development-only-link-secret"
# How long the `nt` token on a landing page names its visitor: a forwarded or leaked address
# stops attributing someone else's browsing after this.
VISITOR_TOKEN_LIFETIME = timedelta(days=90)


def link_secret(configured: SecretStr | None) -> str:
    """The key links are signed with: NURTURE_SECRET_KEY, or the development key."""
    return configured.get_secret_value() if configured else DEV_SECRET


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(payload: dict[str, Any], *, secret: str) -> str:
    """Serialise and sign a token payload."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read_token(token: str, *, secret: str, kind: str) -> dict[str, Any]:
    """Verify a token's signature (constant time) and purpose; returns its payload."""
    if not token.isascii():  # we only issue base64url tokens; anything else is not ours
        raise Forbidden("link signature is invalid")
    body, _, signature = token.partition(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    if not signature or not hmac.compare_digest(signature.encode(), _b64(expected).encode()):
        raise Forbidden("link signature is invalid")
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("link token is malformed", field="token") from None
    if not isinstance(payload, dict) or payload.get("k") != kind:
        raise Forbidden("link is not valid for this action")
    return payload


@dataclass(frozen=True)
class SignedLinks:
    """The Links a real message carries: signed, tied to one message and contact."""

    base_url: str
    secret: str
    message_id: str
    contact_id: str

    def _token(self, kind: str, **extra: str) -> str:
        payload = {"k": kind, "m": self.message_id, "c": self.contact_id, **extra}
        return sign_token(payload, secret=self.secret)

    def unsubscribe_url(self) -> str:
        """One-click unsubscribe (RFC 8058: POST unsubscribes, GET only confirms)."""
        return f"{self.base_url}/u/{self._token(UNSUBSCRIBE)}"

    def track(self, url: str, name: str) -> str:
        """A redirect that records `email.clicked` with the link's name, then 302s to `url`."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"track: only http(s) links can be tracked, not {url!r}")
        return f"{self.base_url}/c/{self._token(CLICK, u=url, n=name)}"

    def open_pixel(self) -> str:
        """A 1x1 image whose fetch records `email.opened`."""
        return f"{self.base_url}/o/{self._token(OPEN)}"


def visitor_token(contact_id: str, *, secret: str, issued_at: datetime) -> str:
    """The `nt` value a click redirect adds to the landing page, read back by POST /track;
    it expires so a leaked landing-page address does not name the contact for ever."""
    expires = int((issued_at + VISITOR_TOKEN_LIFETIME).timestamp())
    return sign_token({"k": VISITOR, "c": contact_id, "exp": expires}, secret=secret)


def read_visitor_token(token: str, *, secret: str, now: datetime) -> str:
    """The contact a visitor token names, refused (403) once it has expired or has no expiry."""
    payload = read_token(token, secret=secret, kind=VISITOR)
    expires = payload.get("exp")
    if not isinstance(expires, int) or now.timestamp() >= expires:
        raise Forbidden("visitor token has expired")
    return str(payload.get("c"))
