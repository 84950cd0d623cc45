"""The settings of incoming provider webhooks, with the checks that span several of them."""

from __future__ import annotations

from pydantic import Field, SecretStr

from service.errors import ConfigError
from service.settings_base import CommaList, SettingsGroup, secret_text

Credentials = tuple[str, str]


class InboundSettings(SettingsGroup):
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

    def postmark_credentials(self) -> tuple[Credentials | None, Credentials | None]:
        """Postmark's basic auth and secret header, each None while unset; a half-set pair
        stops start-up, since Postmark would then be checked with less than was meant."""
        pairs = {
            "USERNAME/_PASSWORD": (
                self.webhook_postmark_username,
                secret_text(self.webhook_postmark_password),
            ),
            "HEADER_NAME/_HEADER_VALUE": (
                self.webhook_postmark_header_name,
                secret_text(self.webhook_postmark_header_value),
            ),
        }
        found: list[Credentials | None] = []
        for names, (first, second) in pairs.items():
            if bool(first) != bool(second):
                raise ConfigError(f"set both NURTURE_WEBHOOK_POSTMARK_{names}")
            found.append((first, second) if first and second else None)
        basic, header = found
        return basic, header
