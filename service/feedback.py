"""Provider feedback on our own messages: which message an event is about, and how far that
message got (delivered, opened, clicked, bounced, failed), never moving backwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhooks import statuses

EMAIL_STATUS = {
    "email.delivered": "delivered",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.bounced": "bounced",
    "email.dropped": "failed",
}
SMS_TYPES = frozenset({"sms.sent", "sms.delivered", "sms.failed"})


def referenced_message_id(properties: Mapping[str, Any]) -> str | None:
    """Our message id, when the provider handed it back (adapters put it in `message_id`)."""
    value = properties.get("message_id")
    return value if isinstance(value, str) and 0 < len(value) <= 36 else None


def reported_status(event_type: str, properties: Mapping[str, Any]) -> str | None:
    """The delivery status an event reports, or None when it reports none."""
    if event_type in SMS_TYPES:
        status = properties.get("status")
        return status.lower() if isinstance(status, str) else event_type.removeprefix("sms.")
    return EMAIL_STATUS.get(event_type)


def supersedes(new: str, current: str | None, *, channel: str) -> bool:
    """Whether `new` may replace `current`, so a late earlier status never wins."""
    return statuses.supersedes(new, current, channel=channel)
