"""Mailgun webhooks: HMAC-SHA256 signature in the body, one-time tokens, event-data."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from webhooks.common import email, from_unix, json_object, load_json, signed_at, text
from webhooks.errors import MalformedPayload, SignatureError
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers, SizedAdapter

TYPES = {
    "accepted": "email.sent",
    "delivered": "email.delivered",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "complained": "email.complained",
    "unsubscribed": "email.unsubscribed",
}


def signature_block(raw_body: bytes) -> dict[str, Any]:
    """The {timestamp, token, signature} object, whose token the service may track."""
    return json_object(json_object(load_json(raw_body), "body").get("signature"), "signature")


def _failure(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Permanent failures are hard bounces; temporary ones mean Mailgun will retry."""
    status = event.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    details = {
        "reason": event.get("reason"),
        "code": status.get("code"),
        "description": status.get("description") or status.get("message"),
    }
    if event.get("severity") == "permanent":
        return "email.bounced", {"hard": True, "bounce_type": event.get("reason"), **details}
    return "email.deferred", details


class MailgunAdapter(SizedAdapter):
    """Mailgun's JSON webhooks, verified with the account's HTTP webhook signing key."""

    MAX_BODY_BYTES = 512 * 1024

    def __init__(
        self,
        signing_key: str,
        *,
        source: str = "mailgun",
        tolerance: timedelta = timedelta(minutes=5),
    ) -> None:
        self._key = signing_key.encode()
        self.source = source
        self._tolerance = tolerance

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """Check HMAC(timestamp + token) and freshness; the service spends the token after."""
        try:
            block = signature_block(raw_body)
        except MalformedPayload as exc:
            raise SignatureError("missing signature object") from exc
        stamp, token, given = (str(block.get(k, "")) for k in ("timestamp", "token", "signature"))
        if not (stamp and token and given):
            raise SignatureError("signature needs timestamp, token and signature")
        expected = hmac.new(self._key, (stamp + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise SignatureError("signature does not match")
        signed_at(stamp, now=now, tolerance=self._tolerance, what="signature timestamp")

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """One event per request; kinds we do not act on are acknowledged and skipped."""
        event = json_object(json_object(load_json(raw_body), "body").get("event-data"), "event")
        kind = str(event.get("event"))
        event_id = text(event.get("id"))
        if event_id is None:
            raise MalformedPayload("event-data.id is required")
        if kind == "failed":
            event_type, properties = _failure(event)
        elif kind in TYPES:
            event_type, properties = TYPES[kind], {}
        else:
            return WebhookResult()
        if kind == "clicked":
            properties["url"] = event.get("url")
        headers_seen = json_object(event.get("message", {}), "message").get("headers", {})
        variables = event.get("user-variables")
        variables = variables if isinstance(variables, dict) else {}
        properties["provider_message_id"] = (
            headers_seen.get("message-id") if isinstance(headers_seen, dict) else None
        )
        return WebhookResult(
            events=[
                CanonicalEvent(
                    id=event_id,
                    source=self.source,
                    type=event_type,
                    time=from_unix(event["timestamp"]) if "timestamp" in event else now,
                    email=email(event.get("recipient")),
                    properties=properties,
                    message_id=text(variables.get(MESSAGE_ID_KEY)),
                )
            ]
        )
