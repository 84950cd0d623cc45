"""The dashboard's signed session cookie and the CSRF token bound to it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.api.auth import SCOPES, ApiKey
from service.errors import NurtureError
from service.tracking.links import read_token, sign_token

COOKIE = "nurture_ui"
COOKIE_PATH = "/ui"
LIFETIME = timedelta(hours=12)  # a working day; then the operator enters her key again
_KIND = "ui"


def session_secret(link_secret: str) -> str:
    """A key of its own for the cookie, derived from the link secret, so a dashboard token
    can never pass for a message link and the other way round."""
    return hmac.new(link_secret.encode(), b"nurture-ui-session", hashlib.sha256).hexdigest()


def key_fingerprint(key: str, *, secret: str) -> str:
    """What the cookie keeps of the key: enough to notice it was revoked, useless to replay."""
    return hmac.new(secret.encode(), b"key:" + key.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Operator:
    """Who is signed in: her key's label and scopes, and the session the CSRF token binds to."""

    sid: str
    label: str
    scopes: frozenset[str]
    fingerprint: str
    expires: int

    def may(self, scope: str) -> bool:
        """Whether this session's key holds `scope`."""
        return scope in self.scopes


def new_operator(key: ApiKey, *, secret: str, now: datetime) -> Operator:
    """A fresh session for a key that was just presented (or for loopback without keys)."""
    return Operator(
        sid=secrets.token_urlsafe(18),
        label=key.label,
        scopes=frozenset(key.scopes),
        fingerprint=key_fingerprint(key.key, secret=secret) if key.key else "",
        expires=int((now + LIFETIME).timestamp()),
    )


def encode(operator: Operator, *, secret: str) -> str:
    """The cookie value: the session signed with the dashboard key."""
    payload = {
        "k": _KIND,
        "sid": operator.sid,
        "lb": operator.label,
        "sc": sorted(operator.scopes),
        "kh": operator.fingerprint,
        "exp": operator.expires,
    }
    return sign_token(payload, secret=secret)


def decode(value: str, *, secret: str, now: datetime) -> Operator | None:
    """The session a cookie carries, or None when it is forged, malformed or expired."""
    try:
        payload = read_token(value, secret=secret, kind=_KIND)
    except NurtureError:
        return None
    sid, label, scopes = payload.get("sid"), payload.get("lb"), payload.get("sc")
    fingerprint, expires = payload.get("kh"), payload.get("exp")
    if not (isinstance(sid, str) and isinstance(label, str) and isinstance(fingerprint, str)):
        return None
    if not isinstance(scopes, list) or not isinstance(expires, int):
        return None
    if now.timestamp() >= expires:
        return None
    return Operator(
        sid=sid,
        label=label,
        scopes=frozenset(s for s in scopes if s in SCOPES),
        fingerprint=fingerprint,
        expires=expires,
    )


def still_valid(operator: Operator, keys: list[ApiKey], *, secret: str) -> Operator | None:
    """The session as the configured keys allow it now: a removed key signs its sessions
    out, and a key's scopes narrowed since sign-in narrow its sessions too."""
    if not keys:
        return operator if operator.fingerprint == "" else None
    for key in keys:
        if hmac.compare_digest(key_fingerprint(key.key, secret=secret), operator.fingerprint):
            return Operator(
                sid=operator.sid,
                label=operator.label,
                scopes=operator.scopes & key.scopes,
                fingerprint=operator.fingerprint,
                expires=operator.expires,
            )
    return None


def csrf_token(operator: Operator, *, secret: str) -> str:
    """The token every form of this session carries; another session's token never fits."""
    return hmac.new(secret.encode(), b"csrf:" + operator.sid.encode(), hashlib.sha256).hexdigest()


def csrf_ok(operator: Operator, presented: str | None, *, secret: str) -> bool:
    """Whether a submitted token is this session's, compared in constant time."""
    if not presented:
        return False
    return hmac.compare_digest(csrf_token(operator, secret=secret).encode(), presented.encode())
