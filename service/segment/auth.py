"""Write keys: who may send Segment calls, the source their events are deduplicated under,
and which web pages may send them from a browser.

A write key is not an API key: it opens the /v1 tracking routes only, and an API key opens
everything but them. Write keys used by analytics.js ship in web pages, so they are public
there: an API key may never also be a write key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from service.errors import ConfigError, Forbidden, Unauthorized
from service.keys import match_key
from service.settings_base import secret_text, split_commas

SETTING = "NURTURE_SEGMENT_WRITE_KEYS"
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
    "Access-Control-Max-Age": "600",
}


@dataclass(frozen=True)
class WriteKey:
    """A configured write key; its label is safe to log and names its events' source."""

    key: str = field(repr=False)
    label: str

    @property
    def source(self) -> str:
        """Events are unique per source and messageId: a resent batch is a duplicate."""
        return f"segment:{self.label}"


def parse_write_keys(value: SecretStr | None, *, api_keys: Iterable[str]) -> list[WriteKey]:
    """Read `key` or `key=label` items; without a label, one derived from the key (stable,
    and revealing nothing of it). ConfigError names the item by position, never the key."""
    reserved = set(api_keys)
    keys: list[WriteKey] = []
    for index, item in enumerate(split_commas(secret_text(value) or "")):
        key, sep, label = item.rpartition("=")
        if not (sep and _LABEL.match(label)):
            key, label = item, hashlib.sha256(item.encode()).hexdigest()[:12]
        if not key:
            raise ConfigError(f"{SETTING}: key #{index + 1} is empty")
        if key in reserved:
            raise ConfigError(
                f"{SETTING}: key #{index + 1} is also in NURTURE_API_KEYS; browsers may see "
                "write keys, so use a different value"
            )
        if any(k.label == label for k in keys):
            raise ConfigError(f"{SETTING}: key #{index + 1} repeats the label {label!r}")
        keys.append(WriteKey(key=key, label=label))
    return keys


def basic_user(authorization: str | None) -> str | None:
    """The user name of HTTP Basic credentials (the write key; the password is empty)."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("send the write key as the user name of HTTP Basic auth")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("the Basic credentials are not base64 text") from None
    return decoded.partition(":")[0] or None


def check_basic(keys: list[WriteKey], authorization: str | None) -> WriteKey | None:
    """The key of the Basic credentials, before any body is read; None without them."""
    user = basic_user(authorization)
    if user is None:
        return None
    key = match_key(keys, user)
    if key is None:
        raise Unauthorized("unknown write key")
    return key


def write_key(keys: list[WriteKey], *, basic: WriteKey | None, body_key: Any) -> WriteKey:
    """The caller's key: Basic auth, or the body's `writeKey` (analytics.js and
    analytics-python send it); when both are given they must agree."""
    if body_key is not None and not isinstance(body_key, str):
        raise Unauthorized("writeKey must be a string")
    given = match_key(keys, body_key) if body_key else None
    if body_key and given is None:
        raise Unauthorized("unknown write key")
    if basic is not None and given is not None and basic != given:
        raise Unauthorized("the writeKey field and the Basic user name differ")
    key = basic or given
    if key is None:
        raise Unauthorized(
            "missing write key: send it as the Basic user name with an empty password, "
            "or as writeKey in the body"
        )
    return key


def browser_headers(
    allowed: tuple[str, ...], origin: str | None, *, preflight: bool = False
) -> dict[str, str]:
    """CORS for the shop's own pages (NURTURE_TRACK_ALLOWED_ORIGINS), never a wildcard;
    servers send no Origin and need none, any other page is refused."""
    if origin is None:
        return {}
    if origin not in allowed:
        raise Forbidden(f"origin {origin!r} is not in NURTURE_TRACK_ALLOWED_ORIGINS")
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return headers | PREFLIGHT if preflight else headers
