"""Every provider nurture receives webhooks from, in one list: the route, its documentation,
the enabled endpoints and the start-up checks of their settings all come from here.

Adding a provider is its adapter in webhooks/ plus one `Provider` below (and its secret on
InboundSettings); nothing else names providers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from service.errors import ConfigError
from service.inbound.settings import InboundSettings
from service.inbound.sns import SnsCertificates, confirm_subscription
from service.inbound.tokens import OneTimeTokens
from service.runtime import Runtime
from service.settings_base import secret_text
from webhooks.callcenter import CallCenterAdapter
from webhooks.events import WebhookResult
from webhooks.mailgun import MailgunAdapter
from webhooks.postmark import PostmarkAdapter
from webhooks.protocol import WebhookAdapter
from webhooks.segment import SegmentAdapter
from webhooks.sendgrid import SendGridAdapter
from webhooks.ses import SesAdapter
from webhooks.standard import StandardWebhooksAdapter
from webhooks.twilio_sms import TwilioSmsAdapter
from webhooks.twilio_voice import TwilioVoiceAdapter

NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")  # one path segment: POST /webhooks/<name>


class BeforeVerify(Protocol):
    """A step before verification that may use the network (SES: fetch its certificate)."""

    async def __call__(
        self, raw_body: bytes, *, client: httpx.AsyncClient, now: datetime
    ) -> None: ...


class AfterVerify(Protocol):
    """A blocking step between verification and parsing that may refuse the request
    (Mailgun: spend its one-time token)."""

    def __call__(self, runtime: Runtime, raw_body: bytes, *, now: datetime) -> None: ...


class AfterIngest(Protocol):
    """A step once the events are in, before the provider gets its reply (SES: confirm the
    subscription the request asks for)."""

    async def __call__(self, result: WebhookResult, *, client: httpx.AsyncClient) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    """One enabled provider: its adapter and the steps it needs around verification."""

    adapter: WebhookAdapter
    before_verify: BeforeVerify | None = None
    after_verify: AfterVerify | None = None
    after_ingest: AfterIngest | None = None

    @property
    def max_body_bytes(self) -> int:
        """The adapter's own cap, enforced while the body streams in."""
        return self.adapter.MAX_BODY_BYTES


@dataclass(frozen=True)
class Provider:
    """A provider nurture can receive: its name in the URL, the settings that configure it
    (the first names it in start-up errors) and how its endpoint is built from them."""

    name: str
    settings: tuple[str, ...]
    # None while its settings are unset; a ValueError when one is malformed.
    build: Callable[[InboundSettings], Endpoint | None]


class Registry:
    """Providers by name, in the order the documentation lists them."""

    def __init__(self, providers: Iterable[Provider] = ()) -> None:
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            self.register(provider)

    def register(self, provider: Provider) -> None:
        """Add a provider; its name must be a new, URL-safe path segment."""
        if not NAME.fullmatch(provider.name):
            raise ValueError(f"provider name {provider.name!r} is not a lower-case path segment")
        if provider.name in self._providers:
            raise ValueError(f"provider {provider.name!r} is already registered")
        self._providers[provider.name] = provider

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers.values())

    def names(self) -> list[str]:
        """Every provider's name, for the route's documentation."""
        return list(self._providers)

    def enabled(self, settings: InboundSettings) -> dict[str, Endpoint]:
        """The endpoints of the providers whose settings are set; a malformed one stops
        start-up with one ConfigError naming it."""
        found: dict[str, Endpoint] = {}
        for provider in self:
            try:
                endpoint = provider.build(settings)
            except ValueError as exc:
                raise ConfigError(f"{env_name(provider.settings[0])}: {exc}") from None
            if endpoint is not None:
                found[provider.name] = endpoint
        return found


def env_name(setting: str) -> str:
    """The environment variable a setting is read from."""
    return f"NURTURE_{setting.upper()}"


def keyed(name: str, setting: str, adapter: Callable[[str], WebhookAdapter]) -> Provider:
    """A provider switched on by one secret setting, its adapter built from that secret."""

    def build(settings: InboundSettings) -> Endpoint | None:
        secret = secret_text(getattr(settings, setting))
        return Endpoint(adapter(secret)) if secret is not None else None

    return Provider(name, (setting,), build)


def _mailgun(settings: InboundSettings) -> Endpoint | None:
    key = secret_text(settings.webhook_mailgun_signing_key)
    if key is None:
        return None
    adapter = MailgunAdapter(key)
    return Endpoint(adapter, after_verify=OneTimeTokens(adapter.source))


def _postmark(settings: InboundSettings) -> Endpoint | None:
    basic, header = settings.postmark_credentials()
    if basic is None and header is None:
        return None
    return Endpoint(PostmarkAdapter(basic_auth=basic, secret_header=header))


def _ses(settings: InboundSettings) -> Endpoint | None:
    topics = settings.webhook_ses_topics
    if not topics:
        return None
    certificates = SnsCertificates(topics)
    return Endpoint(
        SesAdapter(certificates, topics=topics),
        before_verify=certificates.prefetch,
        after_ingest=confirm_subscription,
    )


def _twilio_token(settings: InboundSettings) -> str | None:
    """The webhook token (the account's own auth token unless set apart; see config)."""
    return secret_text(settings.webhook_twilio_auth_token)


def _twilio(settings: InboundSettings) -> Endpoint | None:
    token = _twilio_token(settings)
    if token is None:
        return None
    help_text = settings.webhook_twilio_help_text
    shared_key = secret_text(settings.webhook_twilio_shared_key)
    return Endpoint(TwilioSmsAdapter(token, help_text=help_text, shared_key=shared_key))


def _twilio_voice(settings: InboundSettings) -> Endpoint | None:
    token = _twilio_token(settings)
    if token is None:
        return None
    shared_key = secret_text(settings.webhook_twilio_shared_key)
    return Endpoint(TwilioVoiceAdapter(token, shared_key=shared_key))


TWILIO_SETTINGS = ("webhook_twilio_auth_token", "twilio_auth_token", "webhook_twilio_shared_key")
PROVIDERS = Registry(
    [
        keyed("sendgrid", "webhook_sendgrid_public_key", SendGridAdapter),
        Provider("mailgun", ("webhook_mailgun_signing_key",), _mailgun),
        Provider(
            "postmark",
            (
                "webhook_postmark_username",
                "webhook_postmark_password",
                "webhook_postmark_header_name",
                "webhook_postmark_header_value",
            ),
            _postmark,
        ),
        Provider("ses", ("webhook_ses_topics",), _ses),
        Provider("twilio", (*TWILIO_SETTINGS, "webhook_twilio_help_text"), _twilio),
        Provider("twilio-voice", TWILIO_SETTINGS, _twilio_voice),
        keyed("segment", "webhook_segment_secret", SegmentAdapter),
        keyed("callcenter", "webhook_callcenter_secret", CallCenterAdapter),
        keyed("standard", "webhook_standard_secret", StandardWebhooksAdapter),
    ]
)
