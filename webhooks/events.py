"""The provider-neutral event every adapter produces, and what to answer the provider."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MESSAGE_ID_KEY = "nurture_message_id"
MESSAGE_ID_HEADER = "X-Nurture-Message-Id"
MAX_ID_LENGTH = 200


def derive_id(*parts: object) -> str:
    """A stable event id from provider ids, so retries of one event collapse into one."""
    joined = ":".join(str(part) for part in parts if part is not None)
    if len(joined) <= MAX_ID_LENGTH:
        return joined
    return "sha256:" + hashlib.sha256(joined.encode()).hexdigest()


@dataclass(frozen=True)
class CanonicalEvent:
    """One thing that happened to one contact, in our vocabulary."""

    id: str
    source: str
    type: str
    time: datetime
    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        object.__setattr__(self, "time", self.time.astimezone(UTC))

    def to_payload(self) -> dict[str, Any]:
        """The POST /events body, so adapters and API clients share one ingestion path."""
        contact = {
            key: value
            for key, value in (
                ("id", self.contact_id),
                ("external_id", self.external_id),
                ("email", self.email),
                ("phone", self.phone),
            )
            if value is not None
        }
        properties = dict(self.properties)
        if self.message_id is not None:
            properties["message_id"] = self.message_id
        return {
            "id": self.id,
            "type": self.type,
            "source": self.source,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "contact": contact,
            "properties": properties,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True)
class ConfirmSubscription:
    """An instruction to GET `url` (after checking it is an SNS host) to confirm a topic."""

    url: str
    topic_arn: str


@dataclass(frozen=True)
class WebhookResult:
    """Parsed events plus the reply the provider's retry logic expects; `skipped` says why
    items of a batch that could not be read were left out (a retry would not help them)."""

    events: list[CanonicalEvent] = field(default_factory=list)
    skipped: tuple[str, ...] = ()
    status_code: int = 200
    body: str = ""
    content_type: str = "text/plain"
    confirm: ConfirmSubscription | None = None
