"""Real delivery over httpx: SendGrid, Postmark, Mailgun, Twilio, and signed webhooks.

Each channel turns a rendered message into the request its provider documents, sends our
message id as provider metadata so webhooks can be tied back to it, and classifies the
answer: 2xx sent; 408, 429, 5xx and network errors transient (retried with backoff,
honouring Retry-After up to an hour); 401 and 403 mean our credentials are wrong, which
an operator can fix, so they are retried too (and logged loudly); any other 4xx permanent
(never retried, reason kept).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from service.config import Settings
from service.errors import ConfigError
from service.hosts import is_loopback
from service.scheduler.channels import Channel, DeliveryResult, OutgoingMessage, default_channels
from webhooks.events import MESSAGE_ID_KEY as METADATA_KEY
from webhooks.standard import sign as standard_sign

logger = logging.getLogger(__name__)
REASON_LIMIT = 300  # provider reasons are kept short: they land in the timeline and logs
MAX_RETRY_AFTER = 3600.0  # a provider asking for a longer pause must not park mail for days
CREDENTIAL_ERRORS = (401, 403)
Now = Callable[[], datetime]


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


class HttpChannel:
    """What every HTTP provider shares: the client, the limiter, error classification."""

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
        self._credentials_refused = False

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
            self._report_refused_credentials(response.status_code)
        return classify(response, provider_id=provider_id(response) if ok else None, now=self.now())

    def _report_refused_credentials(self, status: int) -> None:
        """Say once, loudly, that the provider refuses our credentials: every message waits
        (retried with backoff) until an operator fixes the settings."""
        if not self._credentials_refused:
            self._credentials_refused = True
            logger.error(
                "%s refused our credentials (HTTP %d): check its settings; "
                "messages are retried with backoff meanwhile",
                self.provider,
                status,
            )


def _json_field(name: str) -> Callable[[httpx.Response], str | None]:
    def read(response: httpx.Response) -> str | None:
        try:
            value = response.json().get(name)
        except (ValueError, AttributeError):
            return None
        return str(value) if value is not None else None

    return read


def unsubscribe_headers(message: OutgoingMessage) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: mailbox providers POST to the signed URL."""
    return {
        "List-Unsubscribe": f"<{message.unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@dataclass(frozen=True)
class Sender:
    """Who marketing email comes from."""

    email: str
    name: str | None = None
    reply_to: str | None = None

    def formatted(self) -> str:
        """`Name <address>` as Postmark and Mailgun take it."""
        return f"{self.name} <{self.email}>" if self.name else self.email


class SendGridChannel(HttpChannel):
    """SendGrid v3 Mail Send; our id travels as a custom arg."""

    provider = "sendgrid"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        sender: Sender,
        base_url: str = "https://api.sendgrid.com",
        **kwargs: object,
    ) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.api_key, self.sender, self.base_url = api_key, sender, base_url.rstrip("/")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        sender: dict[str, str] = {"email": self.sender.email}
        if self.sender.name:
            sender["name"] = self.sender.name
        body: dict[str, object] = {
            "personalizations": [
                {"to": [{"email": message.to}], "custom_args": {METADATA_KEY: message.id}}
            ],
            "from": sender,
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text},
                {"type": "text/html", "value": message.html},
            ],
            "headers": unsubscribe_headers(message),
            "categories": [message.journey],
        }
        if self.sender.reply_to:
            body["reply_to"] = {"email": self.sender.reply_to}
        request = self.client.post(
            f"{self.base_url}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        return await self._post(request, lambda r: r.headers.get("x-message-id"))


class PostmarkChannel(HttpChannel):
    """Postmark /email on a broadcast stream; our id travels as Metadata."""

    provider = "postmark"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        server_token: str,
        sender: Sender,
        message_stream: str = "broadcast",
        base_url: str = "https://api.postmarkapp.com",
        **kwargs: object,
    ) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.token, self.sender, self.stream = server_token, sender, message_stream
        self.base_url = base_url.rstrip("/")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        body: dict[str, object] = {
            "From": self.sender.formatted(),
            "To": message.to,
            "Subject": message.subject,
            "HtmlBody": message.html,
            "TextBody": message.text,
            "MessageStream": self.stream,
            "Tag": message.journey,
            "Metadata": {METADATA_KEY: message.id},
            "Headers": [{"Name": k, "Value": v} for k, v in unsubscribe_headers(message).items()],
        }
        if self.sender.reply_to:
            body["ReplyTo"] = self.sender.reply_to
        request = self.client.post(
            f"{self.base_url}/email",
            json=body,
            headers={"X-Postmark-Server-Token": self.token, "Accept": "application/json"},
        )
        return await self._post(request, _json_field("MessageID"))


class MailgunChannel(HttpChannel):
    """Mailgun messages API (form-encoded); our id travels as a user variable."""

    provider = "mailgun"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        domain: str,
        sender: Sender,
        base_url: str = "https://api.mailgun.net",
        **kwargs: object,
    ) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.api_key, self.domain, self.sender = api_key, domain, sender
        self.base_url = base_url.rstrip("/")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        form = {
            "from": self.sender.formatted(),
            "to": message.to or "",
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "o:tag": message.journey,
            f"v:{METADATA_KEY}": message.id,
            **{f"h:{k}": v for k, v in unsubscribe_headers(message).items()},
        }
        if self.sender.reply_to:
            form["h:Reply-To"] = self.sender.reply_to
        request = self.client.post(
            f"{self.base_url}/v3/{self.domain}/messages", data=form, auth=("api", self.api_key)
        )
        return await self._post(request, _json_field("id"))


def with_query_param(url: str, name: str, value: str) -> str:
    """`url` with one more query parameter, keeping any it already has (and its fragment)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


class TwilioSmsChannel(HttpChannel):
    """Twilio Programmable Messaging; our id rides on the status callback URL."""

    provider = "twilio"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        status_callback: str | None = None,
        base_url: str = "https://api.twilio.com",
        **kwargs: object,
    ) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.sid, self.token, self.sender = account_sid, auth_token, sender
        self.status_callback, self.base_url = status_callback, base_url.rstrip("/")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        form = {"To": message.to or "", "Body": message.body}
        # A Messaging Service SID (MG...) picks the number itself; otherwise From is ours.
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        if self.status_callback:
            form["StatusCallback"] = with_query_param(
                self.status_callback, METADATA_KEY, message.id
            )
        request = self.client.post(
            f"{self.base_url}/2010-04-01/Accounts/{self.sid}/Messages.json",
            data=form,
            auth=(self.sid, self.token),
        )
        return await self._post(request, _json_field("sid"))


class WebhookChannel(HttpChannel):
    """POSTs the rendered body to the stage's URL, signed the Standard Webhooks way."""

    provider = "webhook"

    def __init__(self, client: httpx.AsyncClient, *, secret: str, **kwargs: object) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.secret = secret

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        if not message.url:
            return DeliveryResult(ok=False, error="webhook stage has no url", permanent=True)
        payload = message.body.encode()
        moment = self.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": standard_sign(
                self.secret, message.idempotency_key, moment, payload
            ),
        }
        request = self.client.post(message.url, content=payload, headers=headers)
        return await self._post(request, lambda r: message.idempotency_key)


def _required(value: SecretStr | str | None, setting: str, provider: str) -> str:
    """A credential the chosen provider cannot work without, or one clear ConfigError."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not text:
        raise ConfigError(f"{setting} is required by provider {provider}")
    return text


def _sender(settings: Settings, provider: str) -> Sender:
    return Sender(
        email=_required(settings.email_from, "NURTURE_EMAIL_FROM", provider),
        name=settings.email_from_name,
        reply_to=settings.email_reply_to,
    )


def _email_channel(settings: Settings, client: httpx.AsyncClient, now: Now) -> Channel | None:
    provider = settings.email_provider
    if provider == "sendgrid":
        return SendGridChannel(
            client,
            api_key=_required(settings.sendgrid_api_key, "NURTURE_SENDGRID_API_KEY", provider),
            sender=_sender(settings, provider),
            base_url=settings.sendgrid_base_url,
            now=now,
            limiter=RateLimiter(settings.sendgrid_rate_limit),
        )
    if provider == "postmark":
        token = settings.postmark_server_token
        return PostmarkChannel(
            client,
            server_token=_required(token, "NURTURE_POSTMARK_SERVER_TOKEN", provider),
            sender=_sender(settings, provider),
            message_stream=settings.postmark_message_stream,
            base_url=settings.postmark_base_url,
            now=now,
            limiter=RateLimiter(settings.postmark_rate_limit),
        )
    if provider == "mailgun":
        return MailgunChannel(
            client,
            api_key=_required(settings.mailgun_api_key, "NURTURE_MAILGUN_API_KEY", provider),
            domain=_required(settings.mailgun_domain, "NURTURE_MAILGUN_DOMAIN", provider),
            sender=_sender(settings, provider),
            base_url=settings.mailgun_base_url,
            now=now,
            limiter=RateLimiter(settings.mailgun_rate_limit),
        )
    return None


def build_channels(
    settings: Settings, *, client: httpx.AsyncClient, now: Now
) -> dict[str, Channel]:
    """The channel per message type that settings choose; `log` for anything unconfigured."""
    channels = default_channels(settings.outbox_path)
    email = _email_channel(settings, client, now)
    if email is not None:
        channels["email"] = email
    if settings.sms_provider == "twilio":
        channels["sms"] = TwilioSmsChannel(
            client,
            account_sid=_required(
                settings.twilio_account_sid, "NURTURE_TWILIO_ACCOUNT_SID", "twilio"
            ),
            auth_token=_required(settings.twilio_auth_token, "NURTURE_TWILIO_AUTH_TOKEN", "twilio"),
            sender=_required(settings.twilio_from, "NURTURE_TWILIO_FROM", "twilio"),
            status_callback=settings.twilio_status_callback,
            base_url=settings.twilio_base_url,
            now=now,
            limiter=RateLimiter(settings.twilio_rate_limit),
        )
    if settings.outgoing_webhook_delivery == "http":
        secret = settings.outgoing_webhook_signing_secret
        channels["webhook"] = WebhookChannel(
            client,
            secret=_required(secret, "NURTURE_OUTGOING_WEBHOOK_SIGNING_SECRET", "http webhooks"),
            now=now,
            limiter=RateLimiter(settings.outgoing_webhook_rate_limit),
        )
    return channels


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The one client every provider shares (pooled connections), with bounded timeouts."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout),
        headers={"User-Agent": "nurture"},
        follow_redirects=False,
    )


def _reaches_real_people(settings: Settings) -> str | None:
    """Why links could leave this machine (a real provider, a public address), if they can."""
    if settings.email_provider != "log":
        return f"email provider is {settings.email_provider}"
    if settings.sms_provider != "log":
        return f"sms provider is {settings.sms_provider}"
    if settings.outgoing_webhook_delivery == "http":
        return "outgoing webhook delivery is http"
    if settings.track_publishable_keys:
        return "NURTURE_TRACK_PUBLISHABLE_KEYS is set"
    if not is_loopback(urlsplit(settings.public_base_url).hostname):
        return "NURTURE_PUBLIC_BASE_URL is not a loopback address"
    return None


def check_link_secret(settings: Settings) -> None:
    """Refuse to sign real people's links with the public development key; for a purely
    local set-up only warn, so trying the product needs no settings."""
    if settings.secret_key is not None:
        return
    reason = _reaches_real_people(settings)
    if reason is not None:
        raise ConfigError(f"NURTURE_SECRET_KEY must be set: {reason}")
    logger.warning(
        "NURTURE_SECRET_KEY is not set: links are signed with the development key; "
        "set it before sending to real people"
    )
