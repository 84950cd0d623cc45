"""Standard Webhooks (standardwebhooks.com): HMAC-SHA256 over `id.timestamp.body`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from webhooks.common import batch, from_iso, header, json_object, load_json
from webhooks.errors import MalformedPayload, SignatureError, StaleRequest
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers, SizedAdapter

SECRET_PREFIX = "whsec_"
TOLERANCE = timedelta(minutes=5)
_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_.-]+$")


def decode_secret(secret: str | bytes) -> bytes:
    """Key bytes from `whsec_<base64>` text (or raw bytes), as the spec defines them."""
    if isinstance(secret, bytes):
        key = secret
    else:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error as exc:
            raise ValueError("secret must be whsec_ followed by base64") from exc
    if not key:
        raise ValueError("secret must not be empty")
    return key


def sign(secret: str | bytes, msg_id: str, timestamp: datetime, body: bytes) -> str:
    """The `webhook-signature` value for an outbound delivery."""
    signed = f"{msg_id}.{int(timestamp.timestamp())}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_signature(
    key: bytes,
    raw_body: bytes,
    headers: Mapping[str, str],
    *,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> str:
    """Check the headers against the raw body and return the message id they carry."""
    msg_id = header(headers, "webhook-id")
    stamp = header(headers, "webhook-timestamp")
    signatures = header(headers, "webhook-signature")
    if not (msg_id and stamp and signatures):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = datetime.fromtimestamp(int(stamp), UTC)
    except (ValueError, OverflowError) as exc:
        raise SignatureError("webhook-timestamp is not epoch seconds") from exc
    expected = sign(key, msg_id, sent, raw_body).split(",", 1)[1].encode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            break
    else:
        raise SignatureError("no webhook-signature matches")
    if abs(now - sent) > tolerance:
        raise StaleRequest("webhook-timestamp is outside the tolerance window")
    return msg_id


def canonical_event(item: Any, *, default_source: str, now: datetime) -> CanonicalEvent:
    """Read one event in our own POST /events shape."""
    event = json_object(item, "event")
    contact = json_object(event.get("contact", {}), "contact")
    properties = dict(json_object(event.get("properties", {}), "properties"))
    attributes = json_object(event.get("attributes", {}), "attributes")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedPayload("event id is required")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise MalformedPayload(f"event type {event_type!r} is not source.action")
    message_id = properties.pop("message_id", None) or properties.pop(MESSAGE_ID_KEY, None)
    return CanonicalEvent(
        id=event_id,
        source=str(event.get("source") or default_source),
        type=event_type,
        time=from_iso(event["time"]) if event.get("time") else now,
        contact_id=contact.get("id"),
        email=contact.get("email"),
        phone=contact.get("phone"),
        external_id=contact.get("external_id"),
        properties=properties,
        attributes=attributes,
        message_id=str(message_id) if message_id is not None else None,
    )


class StandardSignedAdapter(SizedAdapter):
    """Verification shared by every sender we accept signed the Standard Webhooks way."""

    MAX_BODY_BYTES = 1024 * 1024

    def __init__(
        self, secret: str | bytes, *, source: str = "webhook", tolerance: timedelta = TOLERANCE
    ) -> None:
        self._key = decode_secret(secret)
        self.source = source
        self._tolerance = tolerance

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """Raise unless the request is signed with our secret and recent."""
        verify_signature(self._key, raw_body, headers, now=now, tolerance=self._tolerance)


class StandardWebhooksAdapter(StandardSignedAdapter):
    """Any sender that signs per Standard Webhooks and posts canonical events."""

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """One event or {"events": [...]} in our POST /events shape; an unreadable event of a
        batch is skipped, not the batch, so the sender's retries cannot stall on it."""
        payload = json_object(load_json(raw_body), "body")
        items = batch(payload, "events")
        if "events" not in payload:
            return WebhookResult(
                events=[canonical_event(payload, default_source=self.source, now=now)]
            )
        events, skipped = [], []
        for index, item in enumerate(items):
            try:
                events.append(canonical_event(item, default_source=self.source, now=now))
            except MalformedPayload as exc:
                skipped.append(f"events.{index}: {exc}")
        return WebhookResult(events=events, skipped=tuple(skipped))
