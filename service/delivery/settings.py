"""Delivery settings, so each channel's provider is chosen by name from the registry."""

from __future__ import annotations

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from service.delivery.providers import PROVIDERS, ProviderSettings

# The setting that chooses each channel's provider.
PROVIDER_SETTINGS = {
    "email": "email_provider",
    "sms": "sms_provider",
    "webhook": "outgoing_webhook_delivery",
}


def _choices(names: tuple[str, ...]) -> str:
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


class DeliverySettings(ProviderSettings):
    """Outgoing messages (README, "Delivery"): `log` needs no account, others credentials."""

    max_send_attempts: int = Field(default=5, ge=1, le=100)
    email_provider: str = "log"  # log, sendgrid, postmark, mailgun, smtp (any registered name)
    sms_provider: str = "log"  # log, twilio
    # Outgoing webhook stages (log or http); NURTURE_WEBHOOK_DELIVERY is the older name.
    outgoing_webhook_delivery: str = Field(
        default="log",
        validation_alias=AliasChoices(
            "outgoing_webhook_delivery",
            "NURTURE_OUTGOING_WEBHOOK_DELIVERY",
            "NURTURE_WEBHOOK_DELIVERY",
        ),
    )
    frequency_cap: int = Field(default=0, ge=0, le=1000)  # per contact per rolling 24h; 0 = off

    @field_validator(*PROVIDER_SETTINGS.values())
    @classmethod
    def _registered(cls, value: str, info: ValidationInfo) -> str:
        channel = next(c for c, field in PROVIDER_SETTINGS.items() if field == info.field_name)
        names = PROVIDERS.names(channel)
        if value not in names:
            raise PydanticCustomError(
                "literal_error", "Input should be {expected}", {"expected": _choices(names)}
            )
        return value

    def provider_names(self) -> dict[str, str]:
        """The chosen provider of each channel, for building the channels."""
        return {channel: getattr(self, field) for channel, field in PROVIDER_SETTINGS.items()}
