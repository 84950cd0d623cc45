"""All settings, read once from NURTURE_* environment variables (and .env), grouped by concern.

Each group is its own class with its own checks, so a module asks for the narrowest group it
needs; `Settings` is every group in one object, read from the environment in one pass.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.contacts.settings import ContactSettings
from service.engine.timing import is_valid_zone
from service.errors import ConfigError
from service.segment.settings import SegmentSettings


def split_commas(value: Any) -> Any:
    """The one parser of comma-separated settings: 'a, b,,c' -> ('a', 'b', 'c')."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# A list written as one comma-separated environment variable.
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(split_commas)]


def secret_text(value: SecretStr | str | None) -> str | None:
    """The plain text of a secret setting, or None when it is unset or empty."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text or None


def required(value: SecretStr | str | None, *, setting: str, needed_by: str) -> str:
    """A setting that `needed_by` cannot work without, or one ConfigError naming it."""
    text = secret_text(value)
    if text is None:
        raise ConfigError(f"{setting} is required by {needed_by}")
    return text


class _Group(BaseSettings):
    """What every settings group shares: the NURTURE_ prefix, .env, names or aliases."""

    model_config = SettingsConfigDict(
        env_prefix="NURTURE_", env_file=".env", extra="ignore", populate_by_name=True
    )


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


class DeliverySettings(_Group):
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
    SchedulerSettings,
    LinkSettings,
    TrackingSettings,
    InboundSettings,
    DeliverySettings,
    SegmentSettings,
    ContactSettings,
):
    """Every group; an invalid value stops start-up with one clear line."""


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
