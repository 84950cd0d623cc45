"""Amazon SES event publishing and notifications, delivered through an SNS HTTPS topic."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from webhooks.common import email, from_iso, header, json_object, load_json, text
from webhooks.errors import MalformedPayload, SignatureError
from webhooks.events import (
    MESSAGE_ID_HEADER,
    MESSAGE_ID_KEY,
    CanonicalEvent,
    ConfirmSubscription,
    WebhookResult,
)
from webhooks.protocol import Headers, SizedAdapter
from webhooks.sns import CertLoader, is_sns_url, verify_message

# SES event kind -> (our type, the object holding its details)
KINDS = {
    "Send": ("email.sent", "send"),
    "Delivery": ("email.delivered", "delivery"),
    "Bounce": ("email.bounced", "bounce"),
    "Complaint": ("email.complained", "complaint"),
    "Open": ("email.opened", "open"),
    "Click": ("email.clicked", "click"),
    "Reject": ("email.dropped", "reject"),
    "DeliveryDelay": ("email.deferred", "deliveryDelay"),
    "Subscription": ("email.unsubscribed", "subscription"),
}
Recipients = list[tuple[str, dict[str, Any]]]


def _addresses(items: Any) -> list[str]:
    """Email addresses from SES recipient lists (plain strings or {emailAddress})."""
    found = []
    for item in items if isinstance(items, list) else []:
        value = item.get("emailAddress") if isinstance(item, dict) else item
        if isinstance(value, str):
            found.append(value)
    return found


def _recipients(kind: str, detail: dict[str, Any], mail: dict[str, Any]) -> Recipients:
    """Who the event is about, with per-recipient details where SES gives them."""
    destination = _addresses(mail.get("destination"))
    if kind == "Delivery":
        return [(r, {}) for r in _addresses(detail.get("recipients"))]
    if kind == "Bounce":
        bounce_type = detail.get("bounceType")
        common = {
            "hard": bounce_type == "Permanent",
            "bounce_type": bounce_type,
            "bounce_subtype": detail.get("bounceSubType"),
        }
        bounced = detail.get("bouncedRecipients")
        found: Recipients = []
        for item in bounced if isinstance(bounced, list) else []:
            if isinstance(item, dict) and isinstance(item.get("emailAddress"), str):
                details = {"status": item.get("status"), "reason": item.get("diagnosticCode")}
                found.append((item["emailAddress"], common | details))
        return found
    if kind == "Complaint":
        details = {"feedback_type": detail.get("complaintFeedbackType")}
        return [(r, details) for r in _addresses(detail.get("complainedRecipients"))]
    if kind == "DeliveryDelay":
        details = {"reason": detail.get("delayType")}
        return [(r, details) for r in _addresses(detail.get("delayedRecipients"))]
    if kind == "Subscription":
        preferences = detail.get("newTopicPreferences")
        if not (isinstance(preferences, dict) and preferences.get("unsubscribeAll") is True):
            return []
        return [
            (r, {"scope": "all", "contact_list": detail.get("contactList")}) for r in destination
        ]
    if kind == "Click":
        return [(r, {"url": detail.get("link")}) for r in destination]
    if kind == "Reject":
        return [(r, {"reason": detail.get("reason")}) for r in destination]
    return [(r, {}) for r in destination]


def _our_message_id(mail: dict[str, Any]) -> str | None:
    """Our id, sent as an SES message tag or, failing that, as a custom header."""
    tags = mail.get("tags")
    if isinstance(tags, dict):
        values = tags.get(MESSAGE_ID_KEY)
        if isinstance(values, list) and values:
            return text(values[0])
    for item in mail.get("headers") or []:
        if (
            isinstance(item, dict)
            and str(item.get("name", "")).lower() == MESSAGE_ID_HEADER.lower()
        ):
            return text(item.get("value"))
    return None


class SesAdapter(SizedAdapter):
    """SES events over SNS: verifies the SNS signature, then maps the SES payload."""

    MAX_BODY_BYTES = 512 * 1024

    def __init__(
        self,
        cert_loader: CertLoader,
        *,
        topics: Collection[str] | None = None,
        source: str = "ses",
    ) -> None:
        self._cert_loader = cert_loader
        self._topics = frozenset(topics) if topics is not None else None
        self.source = source

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """Check topic and certificate URL before fetching anything, then the signature."""
        try:
            message = json_object(load_json(raw_body), "SNS message")
        except MalformedPayload as exc:
            raise SignatureError("body is not an SNS message") from exc
        declared = header(headers, "x-amz-sns-message-type")
        if declared is not None and declared != message.get("Type"):
            raise SignatureError("x-amz-sns-message-type disagrees with the body")
        topic = message.get("TopicArn")
        if self._topics is not None and not (isinstance(topic, str) and topic in self._topics):
            raise SignatureError("TopicArn is not one we subscribed to")
        verify_message(message, self._cert_loader, now=now)

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """Notifications become events; a subscription request becomes a confirm instruction."""
        envelope = json_object(load_json(raw_body), "SNS message")
        kind = envelope.get("Type")
        if kind == "SubscriptionConfirmation":
            url = str(envelope.get("SubscribeURL", ""))
            if not is_sns_url(url):
                raise MalformedPayload("SubscribeURL is not an https SNS URL")
            return WebhookResult(confirm=ConfirmSubscription(url, str(envelope.get("TopicArn"))))
        if kind != "Notification":
            return WebhookResult()
        sns_id = text(envelope.get("MessageId"))
        if sns_id is None:
            raise MalformedPayload("MessageId is required")
        ses = json_object(load_json(str(envelope.get("Message", "")).encode()), "SES event")
        event_kind = str(ses.get("eventType") or ses.get("notificationType"))
        if event_kind not in KINDS:
            return WebhookResult()
        event_type, detail_key = KINDS[event_kind]
        mail = json_object(ses.get("mail", {}), "mail")
        detail = json_object(ses.get(detail_key, {}), detail_key)
        when = detail.get("timestamp") or mail.get("timestamp") or envelope.get("Timestamp")
        recipients = _recipients(event_kind, detail, mail)
        return WebhookResult(
            events=[
                CanonicalEvent(
                    id=sns_id if len(recipients) == 1 else f"{sns_id}:{recipient.lower()}",
                    source=self.source,
                    type=event_type,
                    time=from_iso(when) if when else now,
                    email=email(recipient),
                    properties={**details, "provider_message_id": mail.get("messageId")},
                    message_id=_our_message_id(mail),
                )
                for recipient, details in recipients
            ]
        )
