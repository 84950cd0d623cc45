"""What every HTTP provider shares: one pooled client, rate limits and one reading of answers."""

# 2xx sent; 408, 409, 425, 429, 5xx and network errors transient (retried with backoff,
# honouring Retry-After up to an hour); 401 and 403 mean our credentials are wrong, which an
# operator can fix, so they are retried too (and logged loudly); any other 4xx permanent
# (never retried, reason kept).

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, NotRequired, TypedDict, Unpack

import httpx
from pydantic import Field

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import Sender, SenderSettings
from service.delivery.providers.registry import ProviderContext
from service.settings_base import SettingsGroup

logger = logging.getLogger(__name__)
REASON_LIMIT = 300  # provider reasons are kept short: they land in the timeline and logs
MAX_RETRY_AFTER = 3600.0  # a provider asking for a longer pause must not park mail for days
CREDENTIAL_ERRORS = (401, 403)
CHANNEL_KINDS = 3  # email, SMS and webhooks, each with its own provider


class HttpSettings(SettingsGroup):
    """How long any provider request may take, and how many one channel has open at once."""

    http_timeout: float = Field(default=10.0, gt=0, le=120)
    # Per channel: also the most messages a crash can leave with an unknown outcome.
    send_concurrency: int = Field(default=8, ge=1, le=100)


def http_client(settings: HttpSettings) -> httpx.AsyncClient:
    """The one pooled client of every provider, sized so a handed-over message never waits."""
    connections = CHANNEL_KINDS * settings.send_concurrency
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        headers={"User-Agent": "nurture"},
        follow_redirects=False,
    )


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """Retry-After as seconds, from either of its two HTTP forms, at most MAX_RETRY_AFTER."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return min(float(value.strip()), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER)


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:REASON_LIMIT]}"
    detail = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return f"HTTP {response.status_code}: {detail[:REASON_LIMIT]}"


def classify(response: httpx.Response, *, provider_id: str | None, now: datetime) -> DeliveryResult:
    """The provider's answer as a delivery result."""
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult(ok=True, provider_message_id=provider_id)
    transient = status in (408, 409, 425, 429, *CREDENTIAL_ERRORS) or status >= 500
    return DeliveryResult(
        ok=False,
        error=_reason(response),
        permanent=not transient,
        retry_after=retry_after_seconds(response, now) if transient else None,
        counts_as_attempt=status not in CREDENTIAL_ERRORS,
    )


def json_field(name: str) -> Callable[[httpx.Response], str | None]:
    """Reads the provider's message id from one field of a JSON answer."""

    def read(response: httpx.Response) -> str | None:
        """The field, or None when the answer is no JSON object."""
        try:
            value = response.json().get(name)
        except (ValueError, AttributeError):
            return None
        return str(value) if value is not None else None

    return read


class RateLimiter:
    """A token bucket per provider, so a burst of due messages respects its API limits."""

    def __init__(self, per_second: float, *, burst: int | None = None) -> None:
        self.per_second = per_second
        self.capacity = float(burst or max(int(per_second), 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one request may go out."""
        async with self._lock:
            while True:
                current = time.monotonic()
                self.tokens = min(
                    self.capacity, self.tokens + (current - self.updated) * self.per_second
                )
                self.updated = current
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.per_second)


class RefusalAlarm:
    """Says once, loudly, that a provider refuses our set-up: messages wait for the fix."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.raised = False

    def raise_once(self, refusal: str, *args: object) -> None:
        """Log the refusal (a %-format of `args`) unless it was said since the last reset."""
        if not self.raised:
            self.raised = True
            self.log.error(
                f"{refusal}: check its settings; messages are retried with backoff meanwhile",
                *args,
            )

    def reset(self) -> None:
        """It works again: a later refusal is news."""
        self.raised = False


class HttpChannel:
    """The base of every HTTP provider's channel: client, limiter, error classification."""

    provider: str  # named in logs

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        now: Callable[[], datetime],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.client = client
        self.now = now
        self.limiter = limiter
        self._refusals = RefusalAlarm(logger)

    async def ready(self) -> None:
        """Wait for the provider's rate limit; called before a message is marked sending."""
        if self.limiter:
            await self.limiter.acquire()

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Send one message now; network trouble is transient, never a crash."""
        if not message.to and message.channel != "webhook":
            return DeliveryResult(ok=False, error="contact has no address", permanent=True)
        try:
            return await self._send(message)
        except httpx.TimeoutException:
            return DeliveryResult(ok=False, error="provider timed out")
        except httpx.TransportError as exc:
            return DeliveryResult(ok=False, error=f"network error: {type(exc).__name__}")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        raise NotImplementedError

    async def _post(
        self,
        request: Awaitable[httpx.Response],
        provider_id: Callable[[httpx.Response], str | None],
    ) -> DeliveryResult:
        response = await request
        ok = 200 <= response.status_code < 300
        if response.status_code in CREDENTIAL_ERRORS:
            self._refusals.raise_once(
                "%s refused our credentials (HTTP %d)", self.provider, response.status_code
            )
        return classify(response, provider_id=provider_id(response) if ok else None, now=self.now())


class EmailApiOptions(TypedDict):
    """What every email API's channel takes besides its credentials."""

    sender: Sender
    now: Callable[[], datetime]
    base_url: NotRequired[str]
    limiter: NotRequired[RateLimiter | None]


def email_api_options(
    settings: SenderSettings, context: ProviderContext, provider: str, base_url: str, pace: float
) -> EmailApiOptions:
    """An email API channel's sender, its address and pace (requests per second) from its
    settings, and the clock from the context."""
    return EmailApiOptions(
        sender=settings.email_sender(provider=provider),
        now=context.now,
        base_url=base_url,
        limiter=RateLimiter(pace),
    )


class EmailApiChannel(HttpChannel):
    """An email API's channel: our sender, and the API's address (`default_base_url` unless
    another is given)."""

    default_base_url: ClassVar[str]

    def __init__(self, client: httpx.AsyncClient, **options: Unpack[EmailApiOptions]) -> None:
        super().__init__(client, now=options["now"], limiter=options.get("limiter"))
        self.sender = options["sender"]
        self.base_url = options.get("base_url", self.default_base_url).rstrip("/")
