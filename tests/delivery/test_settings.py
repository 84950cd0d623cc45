"""Delivery settings: a chosen provider without its credentials stops start-up naming the
missing setting, and links are never signed with the development key once anything can
reach real people."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from service.config import Settings
from service.delivery.setup import build_channels
from service.errors import ConfigError


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        (
            {"email_provider": "sendgrid"},
            "NURTURE_SENDGRID_API_KEY is required by provider sendgrid",
        ),
        (
            {"email_provider": "sendgrid", "sendgrid_api_key": "k"},
            "NURTURE_EMAIL_FROM is required by provider sendgrid",
        ),
        (
            {"email_provider": "postmark", "email_from": "a@b.example"},
            "NURTURE_POSTMARK_SERVER_TOKEN is required by provider postmark",
        ),
        (
            {"email_provider": "mailgun", "mailgun_api_key": "k", "email_from": "a@b.example"},
            "NURTURE_MAILGUN_DOMAIN is required by provider mailgun",
        ),
        ({"sms_provider": "twilio"}, "NURTURE_TWILIO_ACCOUNT_SID is required by provider twilio"),
        (
            {"sms_provider": "twilio", "twilio_account_sid": "AC1", "twilio_auth_token": "t"},
            "NURTURE_TWILIO_FROM is required by provider twilio",
        ),
        (
            {"outgoing_webhook_delivery": "http"},
            "NURTURE_OUTGOING_WEBHOOK_SIGNING_SECRET is required by provider http webhooks",
        ),
    ],
)
async def test_missing_credentials_are_named(values: dict[str, str], missing: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError) as caught:
            build_channels(_settings(**values), client=client, now=lambda: datetime.now(UTC))
    assert caught.value.message == missing


async def test_complete_credentials_build_the_chosen_channels() -> None:
    settings = _settings(
        email_provider="mailgun",
        mailgun_api_key="k",
        mailgun_domain="mg.shop.example",
        email_from="a@b.example",
        sms_provider="twilio",
        twilio_account_sid="AC1",
        twilio_auth_token="t",
        twilio_from="+15550001111",
    )
    async with httpx.AsyncClient() as client:
        channels = build_channels(settings, client=client, now=lambda: datetime.now(UTC))
    assert {name: type(channel).__name__ for name, channel in channels.items()} == {
        "email": "MailgunChannel",
        "sms": "TwilioSmsChannel",
        "webhook": "LogChannel",
    }


def test_older_outgoing_webhook_names_are_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NURTURE_WEBHOOK_DELIVERY", "http")
    monkeypatch.setenv("NURTURE_WEBHOOK_SIGNING_SECRET", "whsec_c2VjcmV0")
    settings = Settings(_env_file=None)
    assert settings.provider_names()["webhook"] == "http"
    assert settings.outgoing_webhook_secret() == "whsec_c2VjcmV0"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({}, None),
        ({"email_provider": "postmark"}, "email provider is postmark"),
        ({"sms_provider": "twilio"}, "sms provider is twilio"),
        ({"outgoing_webhook_delivery": "http"}, "outgoing webhook delivery is http"),
        ({"track_publishable_keys": "pk_shop"}, "NURTURE_TRACK_PUBLISHABLE_KEYS is set"),
        (
            {"public_base_url": "https://nurture.example"},
            "NURTURE_PUBLIC_BASE_URL is not a loopback address",
        ),
    ],
)
def test_what_can_reach_real_people(values: dict[str, str], reason: str | None) -> None:
    assert _settings(**values).reaches_real_people() == reason


def test_the_development_key_only_warns_locally(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _settings().check_link_secret()
    assert "NURTURE_SECRET_KEY is not set" in caplog.text
    _settings(public_base_url="https://nurture.example", secret_key="s").check_link_secret()
    with pytest.raises(ConfigError, match="NURTURE_SECRET_KEY must be set: sms provider is twilio"):
        _settings(sms_provider="twilio").check_link_secret()
