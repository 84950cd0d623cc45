"""A generic call-center disposition feed, signed with Standard Webhooks."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from webhooks import dispositions
from webhooks.common import batch, e164, email, from_iso, json_object, load_json, text
from webhooks.errors import MalformedPayload
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers
from webhooks.standard import TOLERANCE, StandardSignedAdapter


def _finite(value: Any) -> TypeGuard[int | float]:
    """A JSON number that is a real amount (JSON from some senders carries NaN or Infinity)."""
    return isinstance(value, int | float) and math.isfinite(value)


class CallCenterAdapter(StandardSignedAdapter):
    """Dialer dispositions (one call or {"calls": [...]}) for systems with no native hook."""

    MAX_BODY_BYTES = 256 * 1024

    def __init__(
        self, secret: str | bytes, *, source: str = "callcenter", tolerance: timedelta = TOLERANCE
    ) -> None:
        super().__init__(secret, source=source, tolerance=tolerance)

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """One call.completed / call.missed event per reported call."""
        calls = batch(json_object(load_json(raw_body), "body"), "calls")
        return WebhookResult(events=[self._event(call, now) for call in calls])

    def _event(self, item: Any, now: datetime) -> CanonicalEvent:
        call = json_object(item, "call")
        call_id = text(call.get("call_id"))
        phone = e164(call.get("phone"))
        if call_id is None:
            raise MalformedPayload("call_id is required")
        if phone is None and email(call.get("email")) is None and not call.get("contact_id"):
            raise MalformedPayload("phone must be E.164, or give email or contact_id")
        result = dispositions.outcome(str(call.get("outcome", "")))
        if result is None:
            raise MalformedPayload(f"unknown outcome {call.get('outcome')!r}")
        raw_disposition = text(call.get("disposition"))
        duration = call.get("duration_seconds")
        seconds = int(duration) if _finite(duration) else None
        return CanonicalEvent(
            id=call_id,
            source=self.source,
            type=dispositions.call_type(result),
            time=from_iso(call["occurred_at"]) if call.get("occurred_at") else now,
            contact_id=text(call.get("contact_id")),
            email=email(call.get("email")),
            phone=phone,
            properties={
                "outcome": result,
                "disposition": dispositions.disposition(raw_disposition),
                "disposition_code": raw_disposition,
                "duration": seconds,
                "agent": text(call.get("agent")),
                "call_id": call_id,
            },
            message_id=text(call.get(MESSAGE_ID_KEY)),
        )
