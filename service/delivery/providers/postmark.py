"""Postmark /email on a broadcast stream; our message id travels as Metadata."""

from __future__ import annotations

from typing import Unpack

import httpx
from pydantic import Field, SecretStr

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import SenderSettings, unsubscribe_headers
from service.delivery.providers.http import (
    EmailApiChannel,
    EmailApiOptions,
    email_api_options,
    json_field,
)
from service.delivery.providers.registry import Provider, ProviderContext
from service.settings_base import required
from webhooks.events import MESSAGE_ID_KEY

NAME = "postmark"


class PostmarkSettings(SenderSettings):
    """NURTURE_POSTMARK_*: the server token, the stream, and where and how fast to send."""

    postmark_server_token: SecretStr | None = None
    postmark_message_stream: str = "broadcast"
    postmark_base_url: str = "https://api.postmarkapp.com"
    postmark_rate_limit: float = Field(default=50.0, gt=0)

    def postmark_token(self) -> str:
        """The server token, which sending through Postmark cannot do without."""
        return required(
            self.postmark_server_token,
            setting="NURTURE_POSTMARK_SERVER_TOKEN",
            needed_by=f"provider {NAME}",
        )


class PostmarkChannel(EmailApiChannel):
    """One /email request per message."""

    provider = NAME
    default_base_url = "https://api.postmarkapp.com"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        server_token: str,
        message_stream: str = "broadcast",
        **options: Unpack[EmailApiOptions],
    ) -> None:
        super().__init__(client, **options)
        self.token, self.stream = server_token, message_stream

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        body: dict[str, object] = {
            "From": self.sender.formatted(),
            "To": message.to,
            "Subject": message.subject,
            "HtmlBody": message.html,
            "TextBody": message.text,
            "MessageStream": self.stream,
            "Tag": message.journey,
            "Metadata": {MESSAGE_ID_KEY: message.id},
            "Headers": [{"Name": k, "Value": v} for k, v in unsubscribe_headers(message).items()],
        }
        if self.sender.reply_to:
            body["ReplyTo"] = self.sender.reply_to
        request = self.client.post(
            f"{self.base_url}/email",
            json=body,
            headers={"X-Postmark-Server-Token": self.token, "Accept": "application/json"},
        )
        return await self._post(request, json_field("MessageID"))


def build(settings: PostmarkSettings, context: ProviderContext) -> PostmarkChannel:
    """The channel, once the token and the sender are known."""
    return PostmarkChannel(
        context.client,
        server_token=settings.postmark_token(),
        message_stream=settings.postmark_message_stream,
        **email_api_options(
            settings, context, NAME, settings.postmark_base_url, settings.postmark_rate_limit
        ),
    )


PROVIDER = Provider(name=NAME, channels=("email",), build=build)
