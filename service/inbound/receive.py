"""Provider webhooks into the same processing as POST /events.

Each enabled provider's adapter verifies the raw bytes (constant time, timestamp tolerance)
before anything is stored; its events are then stored in the inbox like those of POST /events
(each on its own, in one transaction) and applied by an applier, so the provider is answered
at once and a redelivered webhook is a duplicate with no second effect. The reply is the one
the provider's retry logic expects (TwiML for Twilio, an empty 200 for the rest).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from service.contacts.profile import without_bad_dates
from service.enrollments.acceptor import Acceptor
from service.enrollments.ingest import check_accepting
from service.errors import Conflict, NotFound, NurtureError
from service.inbound import registry
from service.inbound.registry import Endpoint
from service.inbound.settings import InboundSettings
from service.runtime import Runtime
from service.schemas import EventIn
from webhooks.errors import WebhookError
from webhooks.events import CanonicalEvent, WebhookResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One webhook request as the provider signed it: the raw bytes, the headers and the URL
    it called."""

    raw_body: bytes
    headers: Mapping[str, str]
    url: str


class Inbound:
    """The enabled providers and the HTTP client their own requests use (SNS)."""

    def __init__(
        self,
        settings: InboundSettings,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = registry.PROVIDERS.enabled(settings)
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.client.aclose()

    def provider(self, name: str) -> Endpoint:
        """An enabled provider; unknown and unconfigured ones look alike (404)."""
        found = self.endpoints.get(name)
        if found is None:
            raise NotFound(f"no webhook provider {name!r} is configured")
        return found

    async def receive(
        self, runtime: Runtime, acceptor: Acceptor, endpoint: Endpoint, delivery: Delivery
    ) -> WebhookResult:
        """Verify, parse and store one delivery, with the provider's own steps around it."""
        if endpoint.before_verify is not None:
            now = runtime.clock.now()
            await endpoint.before_verify(delivery.raw_body, client=self.client, now=now)
        result = await asyncio.to_thread(process, runtime, acceptor, endpoint, delivery)
        if endpoint.after_ingest is not None:
            await endpoint.after_ingest(result, client=self.client)
        return result


def process(
    runtime: Runtime, acceptor: Acceptor, endpoint: Endpoint, delivery: Delivery
) -> WebhookResult:
    """The blocking part of a delivery: verification, the provider's step after it, parsing
    and storing its usable events in the inbox. A refusal raises before anything is stored."""
    adapter = endpoint.adapter
    raw_body, headers, url = delivery.raw_body, delivery.headers, delivery.url
    now = runtime.clock.now()
    try:
        adapter.verify(raw_body, headers, now=now, url=url)
        if endpoint.after_verify is not None:
            endpoint.after_verify(runtime, raw_body, now=now)
        result = adapter.parse(raw_body, headers, now=now, url=url)
    except WebhookError as exc:
        logger.info("%s webhook refused: %s", adapter.source, exc)
        raise
    for reason in result.skipped:
        logger.warning("%s webhook item skipped: %s", adapter.source, reason)
    usable = [body for event in result.events if (body := _usable(runtime, event)) is not None]
    for body, outcome in zip(usable, acceptor.store_each(usable), strict=True):
        if isinstance(outcome, Conflict):  # this event is refused; the rest count
            logger.warning("%s event %s skipped: %s", body.source, body.id, outcome.message)
    return result


def _usable(runtime: Runtime, event: CanonicalEvent) -> EventIn | None:
    """Our event, its bad dates dropped, or None (logged) when it cannot be used: no usable
    contact, or a contact id nobody has."""
    body = _event_in(event)
    if body is None:
        return None
    body = without_bad_dates(runtime.journeys.date_attributes, body)
    try:
        check_accepting(runtime, [body])
    except NurtureError as exc:
        logger.warning("%s event %s skipped: %s", event.source, event.id, exc.message)
        return None
    return body


def _event_in(event: CanonicalEvent) -> EventIn | None:
    """Our event schema, or None (logged) when the provider named no usable contact."""
    try:
        return EventIn.model_validate(event.to_payload())
    except ValidationError as exc:
        logger.warning("%s event %s skipped: %s", event.source, event.id, exc.errors()[0]["msg"])
        return None


def public_url(base_url: str, path: str, query: str) -> str:
    """The URL the provider called, as it saw it (behind proxies): Twilio signs exactly this."""
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")
