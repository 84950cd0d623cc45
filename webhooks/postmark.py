"""Postmark webhooks: no HMAC, so a shared secret in basic auth or a custom header."""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Any

from webhooks.common import email, from_iso, header, json_object, load_json, text
from webhooks.errors import MalformedPayload, SignatureError
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult, derive_id
from webhooks.protocol import Headers, SizedAdapter

_Found = tuple[str, str | None, str | None, dict[str, Any]]


def _same(given: str | None, expected: str) -> bool:
    """Constant-time string equality that treats a missing value as a mismatch."""
    return hmac.compare_digest((given or "").encode(), expected.encode())


def _basic_auth(value: str | None) -> tuple[str, str] | None:
    """Username and password from an `Authorization: Basic ...` header."""
    scheme, _, encoded = (value or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


def _classify(record: dict[str, Any]) -> _Found | None:
    """(type, recipient, time text, properties) for each documented RecordType."""
    kind = record.get("RecordType")
    if kind == "Delivery":
        return "email.delivered", record.get("Recipient"), record.get("DeliveredAt"), {}
    if kind == "Bounce":
        bounce_type = record.get("Type")
        details = {"hard": bounce_type == "HardBounce", "bounce_type": bounce_type}
        details["reason"] = record.get("Description")
        return "email.bounced", record.get("Email"), record.get("BouncedAt"), details
    if kind == "SpamComplaint":
        return "email.complained", record.get("Email"), record.get("BouncedAt"), {}
    if kind == "Open":
        details = {"first_open": bool(record.get("FirstOpen"))}
        return "email.opened", record.get("Recipient"), record.get("ReceivedAt"), details
    if kind == "Click":
        details = {"url": record.get("OriginalLink"), "location": record.get("ClickLocation")}
        return "email.clicked", record.get("Recipient"), record.get("ReceivedAt"), details
    if kind == "SubscriptionChange" and record.get("SuppressSending") is True:
        details = {"reason": record.get("SuppressionReason"), "origin": record.get("Origin")}
        return "email.unsubscribed", record.get("Recipient"), record.get("ChangedAt"), details
    return None


class PostmarkAdapter(SizedAdapter):
    """Postmark's per-record webhooks, authenticated by configured shared credentials."""

    MAX_BODY_BYTES = 512 * 1024

    def __init__(
        self,
        *,
        basic_auth: tuple[str, str] | None = None,
        secret_header: tuple[str, str] | None = None,
        source: str = "postmark",
    ) -> None:
        if basic_auth is None and secret_header is None:
            raise ValueError("configure basic_auth, secret_header or both")
        self._basic_auth = basic_auth
        self._secret_header = secret_header
        self.source = source

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """Every configured credential must match, compared in constant time."""
        if self._basic_auth is not None:
            given = _basic_auth(header(headers, "Authorization")) or ("", "")
            user_ok = _same(given[0], self._basic_auth[0])
            password_ok = _same(given[1], self._basic_auth[1])
            if not (user_ok and password_ok):
                raise SignatureError("basic auth credentials do not match")
        if self._secret_header is not None:
            name, secret = self._secret_header
            if not _same(header(headers, name), secret):
                raise SignatureError(f"{name} does not match")

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """One record per request; reactivations and unknown records are acknowledged."""
        record = json_object(load_json(raw_body), "body")
        found = _classify(record)
        if found is None:
            return WebhookResult()
        event_type, recipient, when, properties = found
        message_id = text(record.get("MessageID"))
        # Bounces and complaints carry their own numeric ID; other records are per
        # message, recipient and moment (one message can be opened many times).
        own_id = record.get("ID")
        event_id = derive_id(
            record["RecordType"],
            own_id if own_id is not None else message_id,
            recipient,
            when if own_id is None else None,
            properties.get("url"),
        )
        metadata = record.get("Metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        try:
            time = from_iso(when) if when else now
        except MalformedPayload:
            time = now
        return WebhookResult(
            events=[
                CanonicalEvent(
                    id=event_id,
                    source=self.source,
                    type=event_type,
                    time=time,
                    email=email(recipient),
                    properties={**properties, "provider_message_id": message_id},
                    message_id=text(metadata.get(MESSAGE_ID_KEY)),
                )
            ]
        )
