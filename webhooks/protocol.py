"""The one contract every provider adapter keeps, so the service needs no provider's name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Protocol

from webhooks.events import WebhookResult


class WebhookAdapter(Protocol):
    """Verifies a provider's raw request, then turns it into canonical events.

    Both steps get the public URL the provider called; only adapters whose provider signs
    it (Twilio) read it. Verification raises a `WebhookError` and stores nothing; parsing
    only runs after it passed.
    """

    MAX_BODY_BYTES: ClassVar[int]  # refused while streaming in, before any verification
    source: str  # the `source` of the events it produces

    def verify(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> None:
        """Raise unless the request comes from the provider and is fresh."""
        ...

    def parse(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> WebhookResult:
        """The events in a verified request and the reply the provider expects."""
        ...
