"""Adding a send provider is one module plus its registration: a provider that exists only
here is registered, chosen by settings, and a due message goes out through it end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.delivery.channels import DeliveryResult, LogChannel, OutgoingMessage
from service.delivery.providers import PROVIDERS, Provider, ProviderContext
from service.delivery.providers.email import Sender
from service.delivery.providers.registry import ProviderRegistry
from service.delivery.settings import DeliverySettings
from service.delivery.setup import build_channels
from service.errors import ConfigError
from tests.factories import FakeClock, make_settings, running_app, signup

NAME = "test-fake-mail"


class FakeMailChannel:
    """The channel of the test-only provider: keeps what it is handed, answers sent."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.sent: list[OutgoingMessage] = []

    async def ready(self) -> None:
        """No rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message)
        return DeliveryResult(ok=True, provider_message_id=f"fake:{message.id}")


def build(settings: DeliverySettings, context: ProviderContext) -> FakeMailChannel:
    return FakeMailChannel(settings.email_sender(provider=NAME))


# The registration a real provider makes in service/delivery/providers/__init__.py.
FAKE = PROVIDERS.register(Provider(name=NAME, channels=("email",), build=build))


async def test_a_registered_provider_is_chosen_by_settings_and_sends_due_mail(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url, tmp_path, email_provider=NAME, email_from="hello@shop.example"
    )
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
        assert (await app.run_scheduler()).sent == 1
        channel = app.scheduler.dispatcher.channels["email"]
        assert isinstance(channel, FakeMailChannel)
        assert channel.sender == Sender("hello@shop.example")
        [sent] = channel.sent
        assert (sent.to, sent.subject) == ("ava@example.com", "Welcome, Ava!")
        contact = await app.contact()
        [message] = (await app.client.get(f"/contacts/{contact['id']}/messages")).json()
        assert (message["status"], message["provider_message_id"]) == ("sent", f"fake:{sent.id}")
        assert app.outbox_lines() == []  # the other channels still log, email did not


async def test_a_registered_provider_checks_its_settings_at_start_up(
    database_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, tmp_path, email_provider=NAME)
    with pytest.raises(ConfigError, match=f"NURTURE_EMAIL_FROM is required by provider {NAME}"):
        async with running_app(settings, clock):
            pass
    assert f"cannot start: NURTURE_EMAIL_FROM is required by provider {NAME}" in caplog.text


def test_settings_accept_only_registered_names() -> None:
    assert Settings(_env_file=None, email_provider=NAME).email_provider == NAME
    with pytest.raises(ValueError, match="Input should be 'log' or 'twilio'"):
        Settings(_env_file=None, sms_provider=NAME)


def test_built_in_providers_in_registration_order() -> None:
    assert PROVIDERS.names("email")[:4] == ("log", "sendgrid", "postmark", "mailgun")
    assert PROVIDERS.names("sms") == ("log", "twilio")
    assert PROVIDERS.names("webhook") == ("log", "http")


def test_a_name_cannot_be_taken_twice_for_one_channel() -> None:
    registry = ProviderRegistry()
    registry.register(FAKE)
    registry.register(FAKE)  # the same registration again changes nothing
    with pytest.raises(ValueError, match="email provider 'test-fake-mail' is registered already"):
        registry.register(Provider(name=NAME, channels=("email", "sms"), build=build))
    assert registry.names("sms") == ()  # nothing of a refused registration is kept


async def test_one_log_channel_serves_every_channel_that_chose_it(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, outbox_path=tmp_path / "outbox.jsonl")
    async with httpx.AsyncClient() as client:
        channels = build_channels(settings, client=client, now=lambda: datetime.now(UTC))
    assert isinstance(channels["email"], LogChannel)
    assert channels["email"] is channels["sms"] is channels["webhook"]
