"""All settings, read once from NURTURE_* environment variables (and .env), grouped by concern.

Each group is its own class with its own checks, so a module asks for the narrowest group it
needs; `Settings` is every group in one object, read from the environment in one pass. Groups
that belong to one package live there (service/inbound/settings.py, service/tracking/settings.py).
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from service.catalog.settings import CatalogSettings
from service.contacts.settings import ContactSettings
from service.delivery.settings import DeliverySettings
from service.engine.limits import TemplateLimits
from service.engine.timing import is_valid_zone
from service.errors import ConfigError
from service.hosts import is_loopback
from service.inbound.settings import InboundSettings
from service.segment.settings import SegmentSettings
from service.settings_base import CommaList, SettingsGroup
from service.tracking.settings import LinkSettings, TrackingSettings

logger = logging.getLogger(__name__)


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
    # On SIGTERM, how long messages already handed to a provider may take to finish.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0, le=3600)


class InboxSettings(SettingsGroup):
    """How accepted events wait and are applied (README, "Accepting events")."""

    inbox_batch: int = Field(default=500, ge=1, le=10_000)  # events per apply transaction
    inbox_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    # The longest a caller may wait for its events' decisions (`?wait=true`, `Prefer: wait`).
    inbox_wait_seconds: float = Field(default=10.0, gt=0, le=60)
    inbox_keep_hours: float = Field(default=72.0, ge=0, le=24 * 365)


class TemplateSettings(SettingsGroup):
    """How much one message's template may take, so a runaway one fails only its message."""

    template_timeout_seconds: float = Field(default=2.0, gt=0, le=300)
    template_max_output_bytes: int = Field(default=1_000_000, ge=1024, le=100_000_000)
    template_max_range: int = Field(default=10_000, ge=1, le=10_000_000)
    template_max_depth: int = Field(default=50, ge=1, le=200)

    def template_limits(self) -> TemplateLimits:
        """The limits, timed by the monotonic clock, for rendering and for validate."""
        return TemplateLimits(
            timeout_seconds=self.template_timeout_seconds,
            max_output_bytes=self.template_max_output_bytes,
            max_range=self.template_max_range,
            max_depth=self.template_max_depth,
            clock=time.monotonic,
        )


class Settings(
    CoreSettings,
    CatalogSettings,
    SchedulerSettings,
    InboxSettings,
    TemplateSettings,
    LinkSettings,
    TrackingSettings,
    InboundSettings,
    DeliverySettings,
    SegmentSettings,
    ContactSettings,
):
    """Every group; an invalid value stops start-up with one clear line."""

    @model_validator(mode="after")
    def _twilio_webhook_token(self) -> Settings:
        """Twilio signs its webhooks with the account's auth token unless one is set apart."""
        if self.webhook_twilio_auth_token is None:
            self.webhook_twilio_auth_token = self.twilio_auth_token
        return self

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
