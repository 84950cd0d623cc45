"""SendGrid v3 Mail Send; our message id travels as a custom arg."""

from __future__ import annotations

from typing import Unpack

import httpx
from pydantic import Field, SecretStr

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import SenderSettings, unsubscribe_headers
from service.delivery.providers.http import EmailApiChannel, EmailApiOptions, email_api_options
from service.delivery.providers.registry import Provider, ProviderContext
from service.settings_base import required
from webhooks.events import MESSAGE_ID_KEY

NAME = "sendgrid"


class SendGridSettings(SenderSettings):
    """NURTURE_SENDGRID_*: the API key, and where and how fast to send."""

    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_rate_limit: float = Field(default=50.0, gt=0)  # requests per second

    def sendgrid_key(self) -> str:
        """The API key, which sending through SendGrid cannot do without."""
        return required(
            self.sendgrid_api_key, setting="NURTURE_SENDGRID_API_KEY", needed_by=f"provider {NAME}"
        )


class SendGridChannel(EmailApiChannel):
    """One Mail Send request per message."""

    provider = NAME
    default_base_url = "https://api.sendgrid.com"

    def __init__(
        self, client: httpx.AsyncClient, *, api_key: str, **options: Unpack[EmailApiOptions]
    ) -> None:
        super().__init__(client, **options)
        self.api_key = api_key

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        sender: dict[str, str] = {"email": self.sender.email}
        if self.sender.name:
            sender["name"] = self.sender.name
        body: dict[str, object] = {
            "personalizations": [
                {"to": [{"email": message.to}], "custom_args": {MESSAGE_ID_KEY: message.id}}
            ],
            "from": sender,
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text},
                {"type": "text/html", "value": message.html},
            ],
            "headers": unsubscribe_headers(message),
            "categories": [message.journey],
        }
        if self.sender.reply_to:
            body["reply_to"] = {"email": self.sender.reply_to}
        request = self.client.post(
            f"{self.base_url}/v3/mail/send",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        return await self._post(request, lambda r: r.headers.get("x-message-id"))


def build(settings: SendGridSettings, context: ProviderContext) -> SendGridChannel:
    """The channel, once the key and the sender are known."""
    return SendGridChannel(
        context.client,
        api_key=settings.sendgrid_key(),
        **email_api_options(
            settings, context, NAME, settings.sendgrid_base_url, settings.sendgrid_rate_limit
        ),
    )


PROVIDER = Provider(name=NAME, channels=("email",), build=build)
