"""Twilio Programmable Voice status callbacks: finished calls as call.completed/missed."""

from __future__ import annotations

from datetime import datetime

from webhooks import dispositions, twilio_signature
from webhooks.common import count, e164, from_rfc2822, query_param, text
from webhooks.errors import MalformedPayload
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


class TwilioVoiceAdapter(twilio_signature.TwilioSignedAdapter):
    """Call status callbacks, signed with the same X-Twilio-Signature scheme as SMS."""

    def __init__(
        self, auth_token: str, *, source: str = "twilio-voice", shared_key: str | None = None
    ) -> None:
        super().__init__(auth_token, source=source, shared_key=shared_key)

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """Only final statuses become events; ringing and in-progress are acknowledged."""
        form = dict(twilio_signature.form_params(raw_body))
        sid = text(form.get("CallSid"))
        if sid is None:
            raise MalformedPayload("CallSid is required")
        status = form.get("CallStatus", "").lower()
        if status not in FINAL_STATUSES:
            return WebhookResult()
        result = dispositions.outcome(status) or "failed"
        if result == dispositions.ANSWERED and form.get("AnsweredBy", "").startswith("machine"):
            result = "voicemail"
        direction = form.get("Direction", "")
        contact_number = form.get("From") if direction == "inbound" else form.get("To")
        stamp = text(form.get("Timestamp"))
        event = CanonicalEvent(
            id=f"{sid}:{status}",
            source=self.source,
            type=dispositions.call_type(result),
            time=from_rfc2822(stamp) if stamp else now,
            phone=e164(contact_number),
            properties={
                "outcome": result,
                "disposition": None,
                "duration": count(form.get("CallDuration"), "CallDuration"),
                "agent": None,
                "direction": direction or None,
                "call_id": sid,
            },
            message_id=query_param(url, MESSAGE_ID_KEY),
        )
        return WebhookResult(events=[event])
