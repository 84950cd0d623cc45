"""Small helpers every adapter shares: header lookup, size caps, JSON, times, phones."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from webhooks.errors import MalformedPayload, PayloadTooLarge, SignatureError, StaleRequest

# ASCII digits only, the whole string: `\d` would take any Unicode digit, `$` a final newline.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that also works on a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, item in headers.items():
        if key.lower() == wanted:
            return item
    return None


def check_size(raw_body: bytes, limit: int) -> None:
    """Refuse oversized bodies before any parsing work is spent on them."""
    if len(raw_body) > limit:
        raise PayloadTooLarge(f"body is {len(raw_body)} bytes; the limit is {limit}")


def load_json(raw_body: bytes) -> Any:
    """Decode a JSON body, turning decoder errors into a 400-class refusal."""
    try:
        return json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from exc


def json_object(value: Any, what: str) -> dict[str, Any]:
    """Insist on a JSON object where the provider documents one."""
    if not isinstance(value, dict):
        raise MalformedPayload(f"{what} must be a JSON object")
    return value


def batch(payload: dict[str, Any], key: str) -> list[Any]:
    """The items of a `{key: [...]}` batch, or the payload itself as a batch of one."""
    items = payload.get(key, [payload])
    if not isinstance(items, list):
        raise MalformedPayload(f"{key} must be a list")
    return items


def from_unix(value: Any) -> datetime:
    """Aware UTC time from epoch seconds given as a number or a numeric string."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedPayload(f"not an epoch timestamp: {value!r}") from exc


def signed_at(stamp: str, *, now: datetime, tolerance: timedelta, what: str) -> datetime:
    """When a verified signature was made; refused when unreadable or too far from `now`."""
    try:
        sent = from_unix(stamp)
    except MalformedPayload as exc:
        raise SignatureError(f"{what} is not epoch seconds") from exc
    if abs(now - sent) > tolerance:
        raise StaleRequest(f"{what} is outside the tolerance window")
    return sent


def from_iso(value: Any) -> datetime:
    """Aware UTC time from ISO 8601 text; naive values are taken as UTC."""
    if not isinstance(value, str):
        raise MalformedPayload(f"not an ISO 8601 time: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedPayload(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 has no UTC equivalent
        raise MalformedPayload(f"not a time nurture can hold: {value!r}") from exc


def from_rfc2822(value: str) -> datetime:
    """Aware UTC time from an RFC 2822 date, as Twilio sends in `Timestamp`."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise MalformedPayload(f"not an RFC 2822 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def is_e164(value: str) -> bool:
    """Whether `value` is exactly a + and 7 to 15 ASCII digits, the first not 0."""
    return E164.fullmatch(value) is not None


def e164(value: Any) -> str | None:
    """The number in E.164 when it already carries a country code, else None."""
    if not isinstance(value, str):
        return None
    candidate = _PHONE_PUNCTUATION.sub("", value.removeprefix("whatsapp:"))
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    return candidate if is_e164(candidate) else None


def email(value: Any) -> str | None:
    """A trimmed, lower-cased address, or None when absent."""
    if not isinstance(value, str) or "@" not in value:
        return None
    return value.strip().lower()


def snake(value: str) -> str:
    """`Order Completed` -> `order_completed`: the form event types and attributes use."""
    return _NOT_WORD.sub("_", _CAMEL_HUMP.sub("_", value.strip()).lower()).strip("_")


def text(value: Any) -> str | None:
    """A non-empty string or None, for optional provider fields."""
    return value if isinstance(value, str) and value else None


def count(value: str | None, name: str) -> int:
    """A non-negative whole number form field (absent is 0); anything else is malformed."""
    if not value:
        return 0
    if not value.isascii() or not value.isdigit():
        raise MalformedPayload(f"{name} is not a whole number")
    return int(value)


def query_param(url: str, name: str) -> str | None:
    """First value of a query parameter, e.g. our id on a callback URL we handed out."""
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None
