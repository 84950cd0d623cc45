"""All settings, read once from NURTURE_* environment variables (and .env), grouped by concern.

Each group is its own class with its own checks, so a module asks for the narrowest group it
needs; `Settings` is every group in one object, read from the environment in one pass. Groups
that belong to one package live there (service/inbound/settings.py, service/tracking/settings.py).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from service.catalog.settings import CatalogSettings
from service.engine.timing import is_valid_zone
from service.inbound.settings import InboundSettings
from service.settings_base import CommaList, SettingsGroup
from service.tracking.settings import LinkSettings, TrackingSettings


class CoreSettings(SettingsGroup):
    """Where journeys, content and data live, and how the HTTP API is guarded."""

    database_url: str = "sqlite:///nurture.db"
    journeys_dir: Path = Path("journeys")
    content_dir: Path = Path("content")
    api_keys: CommaList = ()  # key or key=scope+scope, comma-separated (README, "API keys")
    default_timezone: str = "UTC"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_zone(value):
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value


class SchedulerSettings(SettingsGroup):
    """How often and how much due work one process claims."""

    run_scheduler: bool = True
    scheduler_interval: float = Field(default=1.0, gt=0, le=3600)
    scheduler_batch: int = Field(default=100, ge=1, le=10_000)
    claim_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)


class DeliverySettings(SettingsGroup):
    """Outgoing messages: providers, sender, sending rules (README, "Delivery").

    `log` writes to the outbox file and needs no account; a chosen provider must have its
    credentials or start-up stops naming the missing setting.
    """

    outbox_path: Path = Path("outbox.jsonl")
    max_send_attempts: int = Field(default=5, ge=1, le=100)
    email_provider: Literal["log", "sendgrid", "postmark", "mailgun"] = "log"
    sms_provider: Literal["log", "twilio"] = "log"
    # Outgoing webhook stages; NURTURE_WEBHOOK_DELIVERY etc. are the older names.
    outgoing_webhook_delivery: Literal["log", "http"] = Field(
        default="log",
        validation_alias=AliasChoices(
            "outgoing_webhook_delivery",
            "NURTURE_OUTGOING_WEBHOOK_DELIVERY",
            "NURTURE_WEBHOOK_DELIVERY",
        ),
    )
    outgoing_webhook_signing_secret: SecretStr | None = Field(
        default=None,  # whsec_..., signs outgoing webhooks the Standard Webhooks way
        validation_alias=AliasChoices(
            "outgoing_webhook_signing_secret",
            "NURTURE_OUTGOING_WEBHOOK_SIGNING_SECRET",
            "NURTURE_WEBHOOK_SIGNING_SECRET",
        ),
    )
    outgoing_webhook_rate_limit: float = Field(
        default=20.0,
        gt=0,
        validation_alias=AliasChoices(
            "outgoing_webhook_rate_limit",
            "NURTURE_OUTGOING_WEBHOOK_RATE_LIMIT",
            "NURTURE_WEBHOOK_RATE_LIMIT",
        ),
    )
    email_from: str | None = None
    email_from_name: str | None = None
    email_reply_to: str | None = None
    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_rate_limit: float = Field(default=50.0, gt=0)  # requests per second
    postmark_server_token: SecretStr | None = None
    postmark_message_stream: str = "broadcast"
    postmark_base_url: str = "https://api.postmarkapp.com"
    postmark_rate_limit: float = Field(default=50.0, gt=0)
    mailgun_api_key: SecretStr | None = None
    mailgun_domain: str | None = None
    mailgun_base_url: str = "https://api.mailgun.net"
    mailgun_rate_limit: float = Field(default=50.0, gt=0)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None  # +E.164 number or a Messaging Service SID (MG...)
    twilio_status_callback: str | None = None  # our id rides on it as a query parameter
    twilio_base_url: str = "https://api.twilio.com"
    twilio_rate_limit: float = Field(default=1.0, gt=0)
    http_timeout: float = Field(default=10.0, gt=0, le=120)
    frequency_cap: int = Field(default=0, ge=0, le=1000)  # per contact per rolling 24h; 0 = off


class Settings(
    CoreSettings,
    CatalogSettings,
    SchedulerSettings,
    LinkSettings,
    TrackingSettings,
    InboundSettings,
    DeliverySettings,
):
    """Every group; an invalid value stops start-up with one clear line."""


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
