"""Provider webhooks into the same processing as POST /events.

Each configured provider's adapter verifies the raw bytes (constant time, timestamp
tolerance) before anything is stored; its events then go through `ingest_event` one by one,
so a redelivered webhook is a duplicate with no second effect. The reply is the one the
provider's retry logic expects (TwiML for Twilio, an empty 200 for the rest).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from service.config import Settings
from service.contacts.profile import without_bad_dates
from service.enrollments.ingest import ingest_event
from service.errors import ConfigError, NotFound, NurtureError, WebhookRefused
from service.runtime import Runtime
from service.schemas import EventIn
from service.store import repository as repo
from webhooks import (
    CallCenterAdapter,
    CanonicalEvent,
    MailgunAdapter,
    MalformedPayload,
    PayloadTooLarge,
    PostmarkAdapter,
    ReplayedRequest,
    SegmentAdapter,
    SendGridAdapter,
    SesAdapter,
    SignatureError,
    StaleRequest,
    StandardWebhooksAdapter,
    TwilioSmsAdapter,
    TwilioVoiceAdapter,
    WebhookError,
    WebhookResult,
)
from webhooks.mailgun import signature_block
from webhooks.sns import is_sns_url

logger = logging.getLogger(__name__)
# Most specific first: a replay is also a stale request.
REFUSALS: list[tuple[type[WebhookError], str]] = [
    (ReplayedRequest, "replayed_request"),
    (StaleRequest, "stale_request"),
    (SignatureError, "invalid_signature"),
    (PayloadTooLarge, "payload_too_large"),
    (MalformedPayload, "malformed_payload"),
]
# Mailgun tokens older than this are refused by their timestamp anyway, so they are pruned.
TOKEN_MEMORY = timedelta(hours=1)
MAX_CERTIFICATES = 32
# A certificate URL that could not be fetched is not tried again for a while, so unsigned
# requests naming it cannot make us fetch over and over.
FAILED_FETCH_MEMORY = timedelta(minutes=1)
MAX_FAILED_FETCHES = 256


@dataclass(frozen=True)
class Provider:
    """One enabled provider endpoint."""

    name: str
    adapter: Any  # a `webhooks` adapter: verify() and parse(), Twilio's with the url too
    signed_url: bool = False  # Twilio signs the URL it called, so it must be reconstructed

    @property
    def max_body_bytes(self) -> int:
        """The adapter's own cap, enforced while the body streams in."""
        limit: int = self.adapter.MAX_BODY_BYTES
        return limit


class SnsCertificates:
    """SNS signing certificates, fetched only from SNS hosts and kept, since they rarely
    rotate; the adapter's synchronous cert loader reads from here."""

    def __init__(self, topics: list[str]) -> None:
        self._topics = frozenset(topics)
        self._pems: OrderedDict[str, bytes] = OrderedDict()
        self._failed: OrderedDict[str, datetime] = OrderedDict()

    async def prefetch(self, raw_body: bytes, client: httpx.AsyncClient, *, now: datetime) -> None:
        """Fetch the certificate a message from an allowed topic names, if it is an SNS URL
        we neither hold nor failed to fetch a moment ago."""
        try:
            message = json.loads(raw_body)
            url, topic = message.get("SigningCertURL"), message.get("TopicArn")
        except (ValueError, AttributeError):
            return
        if not isinstance(topic, str) or topic not in self._topics:
            return
        if not isinstance(url, str) or url in self._pems:
            return
        if not is_sns_url(url, suffix=".pem") or self._failed_recently(url, now):
            return
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            logger.warning("cannot fetch SNS certificate %s: %s", url, exc)
            self._remember_failure(url, now)
            return
        if response.status_code != 200:
            logger.warning("cannot fetch SNS certificate %s: HTTP %d", url, response.status_code)
            self._remember_failure(url, now)
            return
        self._pems[url] = response.content
        if len(self._pems) > MAX_CERTIFICATES:
            self._pems.popitem(last=False)

    def _failed_recently(self, url: str, now: datetime) -> bool:
        failed_at = self._failed.get(url)
        return failed_at is not None and now - failed_at < FAILED_FETCH_MEMORY

    def _remember_failure(self, url: str, now: datetime) -> None:
        self._failed.pop(url, None)
        self._failed[url] = now
        if len(self._failed) > MAX_FAILED_FETCHES:
            self._failed.popitem(last=False)

    def __call__(self, url: str) -> bytes:
        """The certificate prefetched for `url`; a refusal (SNS will retry) when missing."""
        pem = self._pems.get(url)
        if pem is None:
            raise SignatureError("the SNS signing certificate could not be fetched")
        return pem


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _postmark(settings: Settings) -> PostmarkAdapter | None:
    """Basic auth, a secret header, or both; a half-configured pair stops start-up."""
    password = _secret(settings.webhook_postmark_password)
    header_value = _secret(settings.webhook_postmark_header_value)
    pairs = {
        "USERNAME/_PASSWORD": (settings.webhook_postmark_username, password),
        "HEADER_NAME/_HEADER_VALUE": (settings.webhook_postmark_header_name, header_value),
    }
    for names, (first, second) in pairs.items():
        if bool(first) != bool(second):
            raise ValueError(f"set both NURTURE_WEBHOOK_POSTMARK_{names}")
    basic = (settings.webhook_postmark_username, password)
    header = (settings.webhook_postmark_header_name, header_value)
    if not (all(basic) or all(header)):
        return None
    return PostmarkAdapter(
        basic_auth=basic if all(basic) else None,  # type: ignore[arg-type]
        secret_header=header if all(header) else None,  # type: ignore[arg-type]
    )


def build_providers(settings: Settings, certificates: SnsCertificates) -> dict[str, Provider]:
    """The providers whose secrets are configured; a malformed secret stops start-up."""
    twilio_token = _secret(settings.webhook_twilio_auth_token or settings.twilio_auth_token)
    shared_key = _secret(settings.webhook_twilio_shared_key)
    help_text = settings.webhook_twilio_help_text
    candidates: list[tuple[str, str, Any, Any]] = [
        # (provider, setting, its value, adapter factory)
        ("sendgrid", "SENDGRID_PUBLIC_KEY", settings.webhook_sendgrid_public_key, SendGridAdapter),
        ("mailgun", "MAILGUN_SIGNING_KEY", settings.webhook_mailgun_signing_key, MailgunAdapter),
        (
            "ses",
            "SES_TOPICS",
            list(settings.webhook_ses_topics),
            lambda topics: SesAdapter(certificates, topics=topics),
        ),
        (
            "twilio",
            "TWILIO_AUTH_TOKEN",
            twilio_token,
            lambda token: TwilioSmsAdapter(token, help_text=help_text, shared_key=shared_key),
        ),
        (
            "twilio-voice",
            "TWILIO_AUTH_TOKEN",
            twilio_token,
            lambda token: TwilioVoiceAdapter(token, shared_key=shared_key),
        ),
        ("segment", "SEGMENT_SECRET", settings.webhook_segment_secret, SegmentAdapter),
        ("callcenter", "CALLCENTER_SECRET", settings.webhook_callcenter_secret, CallCenterAdapter),
        ("standard", "STANDARD_SECRET", settings.webhook_standard_secret, StandardWebhooksAdapter),
    ]
    found: dict[str, Provider] = {}
    for name, setting, value, factory in candidates:
        secret = _secret(value) if isinstance(value, SecretStr) else value
        if not secret:
            continue
        try:
            adapter = factory(secret)
        except ValueError as exc:
            raise ConfigError(f"NURTURE_WEBHOOK_{setting}: {exc}") from None
        found[name] = Provider(name, adapter, signed_url=name.startswith("twilio"))
    try:
        postmark = _postmark(settings)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if postmark is not None:
        found["postmark"] = Provider("postmark", postmark)
    return found


def _refusal(exc: WebhookError) -> WebhookRefused:
    code = next(code for kind, code in REFUSALS if isinstance(exc, kind))
    return WebhookRefused(str(exc), status_code=exc.status_code, code=code)


def _event_in(event: CanonicalEvent) -> EventIn | None:
    """Our event schema, or None (logged) when the provider named no usable contact."""
    try:
        return EventIn.model_validate(event.to_payload())
    except ValidationError as exc:
        logger.warning("%s event %s skipped: %s", event.source, event.id, exc.errors()[0]["msg"])
        return None


class Inbound:
    """The enabled providers and the HTTP client that confirms SNS subscriptions."""

    def __init__(
        self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.certificates = SnsCertificates(list(settings.webhook_ses_topics))
        self.providers = build_providers(settings, self.certificates)
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.http_timeout),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Release pooled connections."""
        await self.client.aclose()

    def provider(self, name: str) -> Provider:
        """An enabled provider; unknown and unconfigured ones look alike (404)."""
        found = self.providers.get(name)
        if found is None:
            raise NotFound(f"no webhook provider {name!r} is configured")
        return found

    async def receive(
        self,
        runtime: Runtime,
        provider: Provider,
        raw_body: bytes,
        headers: Mapping[str, str],
        *,
        url: str,
    ) -> WebhookResult:
        """Verify, parse and ingest one delivery; confirm an SNS subscription it asks for."""
        if provider.name == "ses":
            await self.certificates.prefetch(raw_body, self.client, now=runtime.clock.now())
        result = await asyncio.to_thread(_process, runtime, provider, raw_body, headers, url)
        if result.confirm is not None:
            await self._confirm(result.confirm.url, result.confirm.topic_arn)
        return result

    async def _confirm(self, url: str, topic_arn: str) -> None:
        """GET the SubscribeURL (an SNS host only); a failure asks SNS to try again."""
        if not is_sns_url(url):
            raise WebhookRefused("SubscribeURL is not an SNS URL", status_code=400, code="bad_url")
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as exc:
            raise WebhookRefused(
                f"confirming {topic_arn} failed: {exc}", status_code=502, code="confirm_failed"
            ) from None
        if response.status_code != 200:
            raise WebhookRefused(
                f"confirming {topic_arn} failed with {response.status_code}",
                status_code=502,
                code="confirm_failed",
            )
        logger.info("confirmed SNS subscription to %s", topic_arn)


def _process(
    runtime: Runtime,
    provider: Provider,
    raw_body: bytes,
    headers: Mapping[str, str],
    url: str,
) -> WebhookResult:
    """Blocking part of a delivery: verification, one-time tokens, parsing, ingestion."""
    now = runtime.clock.now()
    extra = {"url": url} if provider.signed_url else {}
    try:
        provider.adapter.verify(raw_body, headers, now=now, **extra)
        if provider.name == "mailgun":
            _spend_token(runtime, provider, raw_body, now=now)
        result = provider.adapter.parse(raw_body, headers, now=now, **extra)
    except WebhookError as exc:
        logger.info("%s webhook refused: %s", provider.name, exc)
        raise _refusal(exc) from None
    for reason in result.skipped:
        logger.warning("%s webhook item skipped: %s", provider.name, reason)
    for event in result.events:
        body = _event_in(event)
        if body is None:
            continue
        try:
            ingest_event(runtime, without_bad_dates(runtime.journeys.date_attributes, body))
        except NurtureError as exc:  # this event is refused (e.g. a conflict); the rest count
            logger.warning("%s event %s skipped: %s", event.source, event.id, exc.message)
    return result


def _spend_token(runtime: Runtime, provider: Provider, raw_body: bytes, *, now: datetime) -> None:
    """Mailgun signs only timestamp and token, so a token may carry one body only."""
    token = str(signature_block(raw_body).get("token", ""))
    with runtime.db.write() as session:
        fresh = repo.remember_webhook_token(
            session,
            source=provider.adapter.source,
            token=token[:200],
            body_sha256=hashlib.sha256(raw_body).hexdigest(),
            now=now,
            forget_before=now - TOKEN_MEMORY,
        )
    if not fresh:
        raise ReplayedRequest("signature token was already used for another request")


def public_url(base_url: str, path: str, query: str) -> str:
    """The URL the provider called, as it saw it (behind proxies): Twilio signs exactly this."""
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")
