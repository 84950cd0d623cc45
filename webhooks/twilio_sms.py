"""Twilio Programmable Messaging: inbound texts (with consent keywords) and status callbacks."""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

from webhooks import twilio_signature
from webhooks.common import count, e164, query_param, text
from webhooks.errors import MalformedPayload
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers
from webhooks.statuses import SMS_ORDER

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})
STATUS_TYPES = {
    "sent": "sms.sent",
    "delivered": "sms.delivered",
    "undelivered": "sms.failed",
    "failed": "sms.failed",
}
TWIML_TYPE = "text/xml"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twiml_message(body: str) -> str:
    """A TwiML reply sending one SMS back, with the text XML-escaped."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(body)}</Message></Response>"
    )


class TwilioSmsAdapter(twilio_signature.TwilioSignedAdapter):
    """Inbound SMS and message status callbacks, both form-encoded and signed alike."""

    def __init__(
        self,
        auth_token: str,
        *,
        help_text: str,
        source: str = "twilio",
        shared_key: str | None = None,
    ) -> None:
        super().__init__(auth_token, source=source, shared_key=shared_key)
        self.help_text = help_text

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """Consent keywords, replies and delivery statuses as canonical events."""
        form = dict(twilio_signature.form_params(raw_body))
        sid = text(form.get("MessageSid")) or text(form.get("SmsSid"))
        if sid is None:
            raise MalformedPayload("MessageSid is required")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if status in ("received", "receiving") or (not status and "Body" in form):
            return self._inbound(sid, form, now)
        return self._status(sid, status, form, now, query_param(url, MESSAGE_ID_KEY))

    def _inbound(self, sid: str, form: dict[str, str], now: datetime) -> WebhookResult:
        body = form.get("Body", "")
        keyword = body.strip().upper()
        event_type, reply = "sms.received", EMPTY_TWIML
        if keyword in OPT_OUT_KEYWORDS:
            event_type = "sms.opted_out"
        elif keyword in OPT_IN_KEYWORDS:
            event_type = "sms.opted_in"
        elif keyword in HELP_KEYWORDS:
            reply = twiml_message(self.help_text)
        is_keyword = keyword in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS | HELP_KEYWORDS
        event = CanonicalEvent(
            id=sid,
            source=self.source,
            type=event_type,
            time=now,
            phone=e164(form.get("From")),
            properties={
                "body": body,
                "to": form.get("To"),
                "keyword": keyword.lower() if is_keyword else None,
                "num_media": count(form.get("NumMedia"), "NumMedia"),
                "provider_message_id": sid,
            },
        )
        return WebhookResult(events=[event], body=reply, content_type=TWIML_TYPE)

    def _status(
        self, sid: str, status: str, form: dict[str, str], now: datetime, message_id: str | None
    ) -> WebhookResult:
        event_type = STATUS_TYPES.get(status)
        if event_type is None:
            return WebhookResult()
        event = CanonicalEvent(
            id=f"{sid}:{status}",
            source=self.source,
            type=event_type,
            time=now,
            phone=e164(form.get("To")),
            properties={
                "status": status,
                "status_rank": SMS_ORDER.rank(status),
                "error_code": text(form.get("ErrorCode")),
                "provider_message_id": sid,
            },
            message_id=message_id,
        )
        return WebhookResult(events=[event])
