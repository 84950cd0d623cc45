"""All settings in one place, read from NURTURE_* environment variables (and .env)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.engine.timing import is_valid_zone


class Settings(BaseSettings):
    """Service settings; an invalid value stops start-up with one clear line."""

    model_config = SettingsConfigDict(env_prefix="NURTURE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///nurture.db"
    journeys_dir: Path = Path("journeys")
    content_dir: Path = Path("content")
    api_keys: str = ""
    scheduler_interval: float = Field(default=1.0, gt=0, le=3600)
    scheduler_batch: int = Field(default=100, ge=1, le=10_000)
    default_timezone: str = "UTC"
    outbox_path: Path = Path("outbox.jsonl")
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    public_base_url: str = "http://127.0.0.1:8000"
    run_scheduler: bool = True
    claim_lease_seconds: float = Field(default=60.0, gt=0, le=86_400)
    max_send_attempts: int = Field(default=5, ge=1, le=100)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # ----- inbound webhooks and website tracking --------------------------------------------
    # A provider with no secret configured is disabled: POST /webhooks/<provider> answers 404
    # and unsigned data is never accepted. See the README, "Provider webhooks".
    webhook_sendgrid_public_key: SecretStr | None = None
    webhook_mailgun_signing_key: SecretStr | None = None
    webhook_postmark_username: str | None = None
    webhook_postmark_password: SecretStr | None = None
    webhook_postmark_header_name: str | None = None
    webhook_postmark_header_value: SecretStr | None = None
    webhook_ses_topics: str = ""  # comma-separated SNS topic ARNs; SES is off while empty
    webhook_twilio_auth_token: SecretStr | None = None
    # Signs requests that carry X-Twilio-Webhooks-Signature-Settings (a Webhook Setting's key).
    webhook_twilio_shared_key: SecretStr | None = None
    webhook_twilio_help_text: str = Field(
        default="Reply STOP to unsubscribe, START to resubscribe.", min_length=1, max_length=320
    )
    webhook_segment_secret: SecretStr | None = None
    webhook_callcenter_secret: SecretStr | None = None
    webhook_standard_secret: SecretStr | None = None
    track_publishable_keys: str = ""  # comma-separated; POST /track is off while empty
    track_allowed_origins: str = ""  # comma-separated exact origins, e.g. https://shop.example

    # ----- delivery: providers, signed links and sending rules (README, "Delivery") ----------
    # `log` writes to the outbox file and needs no account; a chosen provider must have its
    # credentials or start-up stops naming the missing setting.
    secret_key: SecretStr | None = None  # signs unsubscribe/click/open links
    email_provider: Literal["log", "sendgrid", "postmark", "mailgun"] = "log"
    sms_provider: Literal["log", "twilio"] = "log"
    webhook_delivery: Literal["log", "http"] = "log"
    webhook_signing_secret: SecretStr | None = None  # whsec_..., signs outgoing webhooks
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
    webhook_rate_limit: float = Field(default=20.0, gt=0)
    http_timeout: float = Field(default=10.0, gt=0, le=120)
    frequency_cap: int = Field(default=0, ge=0, le=1000)  # per contact per rolling 24h; 0 = off
    open_tracking: bool = False

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_zone(value):
            raise ValueError(f"unknown IANA timezone {value!r}")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
