"""All settings, read once from NURTURE_* environment variables (and .env), grouped by concern.

Each group is its own class with its own checks, so a module asks for the narrowest group it
needs; `Settings` is every group in one object, read from the environment in one pass.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from service.delivery.settings import DeliverySettings
from service.engine.timing import is_valid_zone
from service.errors import ConfigError
from service.hosts import is_loopback
from service.settings_base import CommaList as CommaList
from service.settings_base import SettingsGroup as _Group
from service.settings_base import required as required
from service.settings_base import secret_text as secret_text
from service.settings_base import split_commas as split_commas

logger = logging.getLogger(__name__)


class CoreSettings(_Group):
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


class SchedulerSettings(_Group):
    """How often and how much due work one process claims."""

    run_scheduler: bool = True
    scheduler_interval: float = Field(default=1.0, gt=0, le=3600)
    scheduler_batch: int = Field(default=100, ge=1, le=10_000)
    claim_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)


class LinkSettings(_Group):
    """Signed unsubscribe, click and open links, and the address they point at."""

    secret_key: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    open_tracking: bool = False


class TrackingSettings(_Group):
    """Website tracking (POST /track): off while no publishable key is set."""

    track_publishable_keys: CommaList = ()
    track_allowed_origins: CommaList = ()  # exact origins, e.g. https://shop.example


class InboundSettings(_Group):
    """Incoming provider webhooks (POST /webhooks/<provider>), all NURTURE_WEBHOOK_*.

    A provider with no secret configured is disabled: its endpoint answers 404 and unsigned
    data is never accepted. See the README, "Provider webhooks".
    """

    webhook_sendgrid_public_key: SecretStr | None = None
    webhook_mailgun_signing_key: SecretStr | None = None
    webhook_postmark_username: str | None = None
    webhook_postmark_password: SecretStr | None = None
    webhook_postmark_header_name: str | None = None
    webhook_postmark_header_value: SecretStr | None = None
    webhook_ses_topics: CommaList = ()  # SNS topic ARNs; SES is off while empty
    webhook_twilio_auth_token: SecretStr | None = None
    # Signs requests that carry X-Twilio-Webhooks-Signature-Settings (a Webhook Setting's key).
    webhook_twilio_shared_key: SecretStr | None = None
    webhook_twilio_help_text: str = Field(
        default="Reply STOP to unsubscribe, START to resubscribe.", min_length=1, max_length=320
    )
    webhook_segment_secret: SecretStr | None = None
    webhook_callcenter_secret: SecretStr | None = None
    webhook_standard_secret: SecretStr | None = None


class Settings(
    CoreSettings,
    SchedulerSettings,
    LinkSettings,
    TrackingSettings,
    InboundSettings,
    DeliverySettings,
):
    """Every group; an invalid value stops start-up with one clear line."""

    def reaches_real_people(self) -> str | None:
        """Why links could leave this machine (a real provider, a public address), if they can."""
        if self.email_provider != "log":
            return f"email provider is {self.email_provider}"
        if self.sms_provider != "log":
            return f"sms provider is {self.sms_provider}"
        if self.outgoing_webhook_delivery == "http":
            return "outgoing webhook delivery is http"
        if self.track_publishable_keys:
            return "NURTURE_TRACK_PUBLISHABLE_KEYS is set"
        if not is_loopback(urlsplit(self.public_base_url).hostname):
            return "NURTURE_PUBLIC_BASE_URL is not a loopback address"
        return None

    def check_link_secret(self) -> None:
        """Refuse to sign real people's links with the public development key; for a purely
        local set-up only warn, so trying the product needs no settings."""
        if self.secret_key is not None:
            return
        reason = self.reaches_real_people()
        if reason is not None:
            raise ConfigError(f"NURTURE_SECRET_KEY must be set: {reason}")
        logger.warning(
            "NURTURE_SECRET_KEY is not set: links are signed with the development key; "
            "set it before sending to real people"
        )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
