"""Outgoing webhook stages over HTTP, signed the Standard Webhooks way so receivers trust us."""

from __future__ import annotations

import httpx
from pydantic import AliasChoices, Field, SecretStr

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.http import HttpChannel, RateLimiter
from service.delivery.providers.registry import Provider, ProviderContext
from service.settings_base import SettingsGroup, required
from webhooks.standard import sign as standard_sign

NAME = "http"


class OutgoingWebhookSettings(SettingsGroup):
    """NURTURE_OUTGOING_WEBHOOK_* (older NURTURE_WEBHOOK_* still read): secret and pace."""

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

    def outgoing_webhook_secret(self) -> str:
        """The signing secret, without which receivers could not trust our webhooks."""
        return required(
            self.outgoing_webhook_signing_secret,
            setting="NURTURE_OUTGOING_WEBHOOK_SIGNING_SECRET",
            needed_by="provider http webhooks",
        )


class WebhookChannel(HttpChannel):
    """One signed POST per webhook stage."""

    provider = "webhook"

    def __init__(self, client: httpx.AsyncClient, *, secret: str, **kwargs: object) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.secret = secret

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        if not message.url:
            return DeliveryResult(ok=False, error="webhook stage has no url", permanent=True)
        payload = message.body.encode()
        moment = self.now()
        headers = {
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": standard_sign(
                self.secret, message.idempotency_key, moment, payload
            ),
        }
        request = self.client.post(message.url, content=payload, headers=headers)
        return await self._post(request, lambda r: message.idempotency_key)


def build(settings: OutgoingWebhookSettings, context: ProviderContext) -> WebhookChannel:
    """The channel, once the signing secret is known."""
    return WebhookChannel(
        context.client,
        secret=settings.outgoing_webhook_secret(),
        now=context.now,
        limiter=RateLimiter(settings.outgoing_webhook_rate_limit),
    )


PROVIDER = Provider(name=NAME, channels=("webhook",), build=build)
