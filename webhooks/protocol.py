"""The one contract every provider adapter keeps, so the service needs no provider's name."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Protocol

from webhooks.common import check_size
from webhooks.events import WebhookResult

Headers = Mapping[str, str]


class WebhookAdapter(Protocol):
    """Verifies a provider's raw request, then turns it into canonical events.

    Both steps get the public URL the provider called; only adapters whose provider signs
    it (Twilio) read it. Verification raises a `WebhookError` and stores nothing; parsing
    only runs after it passed.
    """

    MAX_BODY_BYTES: ClassVar[int]  # refused while streaming in, before any verification
    source: str  # the `source` of the events it produces

    def verify(self, raw_body: bytes, headers: Headers, *, now: datetime, url: str) -> None:
        """Raise unless the request comes from the provider and is fresh."""
        ...

    def parse(self, raw_body: bytes, headers: Headers, *, now: datetime, url: str) -> WebhookResult:
        """The events in a verified request and the reply the provider expects."""
        ...


class SizedAdapter(WebhookAdapter):
    """Refuses an oversized body before either step, so each adapter writes only its own part."""

    def verify(self, raw_body: bytes, headers: Headers, *, now: datetime, url: str = "") -> None:
        """Raise unless the request comes from the provider and is fresh."""
        check_size(raw_body, self.MAX_BODY_BYTES)
        self._verify(raw_body, headers, now, url)

    def parse(
        self, raw_body: bytes, headers: Headers, *, now: datetime, url: str = ""
    ) -> WebhookResult:
        """The events in a verified request and the reply the provider expects."""
        check_size(raw_body, self.MAX_BODY_BYTES)
        return self._parse(raw_body, headers, now, url)

    @abstractmethod
    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """The provider's own signature or credential check."""

    @abstractmethod
    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """The provider's own payload read into canonical events."""
