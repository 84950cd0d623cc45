"""SendGrid Event Webhook: signed JSON batches of delivery and engagement events."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from webhooks.common import (
    email,
    from_unix,
    header,
    json_object,
    load_json,
    signed_at,
    text,
)
from webhooks.errors import MalformedPayload, SignatureError
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers, SizedAdapter

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TYPES = {
    "processed": "email.sent",
    "delivered": "email.delivered",
    "open": "email.opened",
    "click": "email.clicked",
    "bounce": "email.bounced",
    "dropped": "email.dropped",
    "deferred": "email.deferred",
    "spamreport": "email.complained",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
}


def _public_key(verification_key: str) -> ec.EllipticCurvePublicKey:
    """Load the base64 DER key shown in SendGrid's Mail Settings."""
    try:
        key = load_der_public_key(base64.b64decode(verification_key, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("verification key must be base64 DER (SubjectPublicKeyInfo)") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("verification key must be an ECDSA P-256 public key")
    return key


def _properties(event: dict[str, Any]) -> dict[str, Any]:
    """The fields that matter downstream for each SendGrid event kind."""
    kind = event["event"]
    found: dict[str, Any] = {"provider_message_id": event.get("sg_message_id")}
    if kind == "click":
        found["url"] = event.get("url")
    elif kind == "open":
        found["machine_open"] = bool(event.get("sg_machine_open", False))
    elif kind == "bounce":
        bounce_type = event.get("type", "bounce")
        found |= {
            "hard": bounce_type == "bounce",
            "bounce_type": bounce_type,
            "reason": event.get("reason"),
            "status": event.get("status"),
        }
    elif kind == "dropped":
        found["reason"] = event.get("reason")
    elif kind == "deferred":
        found |= {"reason": event.get("response"), "attempt": event.get("attempt")}
    elif kind in ("unsubscribe", "group_unsubscribe"):
        found["scope"] = "group" if kind == "group_unsubscribe" else "all"
        if kind == "group_unsubscribe":
            found["group_id"] = event.get("asm_group_id")
    return found


class SendGridAdapter(SizedAdapter):
    """The Event Webhook with Signed Event Webhook verification enabled."""

    MAX_BODY_BYTES = 4 * 1024 * 1024

    def __init__(
        self,
        verification_key: str,
        *,
        source: str = "sendgrid",
        tolerance: timedelta = timedelta(minutes=10),
    ) -> None:
        self._key = _public_key(verification_key)
        self.source = source
        self._tolerance = tolerance

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """ECDSA P-256/SHA-256 over the timestamp header followed by the raw body."""
        signature = header(headers, SIGNATURE_HEADER)
        stamp = header(headers, TIMESTAMP_HEADER)
        if not (signature and stamp):
            raise SignatureError(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
        try:
            der_signature = base64.b64decode(signature, validate=True)
            self._key.verify(der_signature, stamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, InvalidSignature) as exc:
            raise SignatureError("event webhook signature does not verify") from exc
        signed_at(stamp, now=now, tolerance=self._tolerance, what=TIMESTAMP_HEADER)

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """A JSON array of events; kinds we do not act on are acknowledged and skipped."""
        batch = load_json(raw_body)
        if not isinstance(batch, list):
            raise MalformedPayload("body must be a JSON array of events")
        events = []
        for item in batch:
            event = json_object(item, "event")
            event_type = TYPES.get(str(event.get("event")))
            event_id = text(event.get("sg_event_id"))
            if event_type is None or event_id is None:
                continue
            events.append(
                CanonicalEvent(
                    id=event_id,
                    source=self.source,
                    type=event_type,
                    time=from_unix(event["timestamp"]) if "timestamp" in event else now,
                    email=email(event.get("email")),
                    properties=_properties(event),
                    message_id=text(event.get(MESSAGE_ID_KEY)),
                )
            )
        return WebhookResult(events=events)
