"""Mailgun messages API (form-encoded); our message id travels as a user variable."""

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

NAME = "mailgun"


class MailgunSettings(SenderSettings):
    """NURTURE_MAILGUN_*: the API key and sending domain, and where and how fast to send."""

    mailgun_api_key: SecretStr | None = None
    mailgun_domain: str | None = None
    mailgun_base_url: str = "https://api.mailgun.net"
    mailgun_rate_limit: float = Field(default=50.0, gt=0)

    def mailgun_account(self) -> tuple[str, str]:
        """The API key and sending domain, without which Mailgun cannot send."""
        needed_by = f"provider {NAME}"
        key = required(self.mailgun_api_key, setting="NURTURE_MAILGUN_API_KEY", needed_by=needed_by)
        domain = required(
            self.mailgun_domain, setting="NURTURE_MAILGUN_DOMAIN", needed_by=needed_by
        )
        return key, domain


class MailgunChannel(EmailApiChannel):
    """One messages request per message."""

    provider = NAME
    default_base_url = "https://api.mailgun.net"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        api_key: str,
        domain: str,
        **options: Unpack[EmailApiOptions],
    ) -> None:
        super().__init__(client, **options)
        self.api_key, self.domain = api_key, domain

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        form = {
            "from": self.sender.formatted(),
            "to": message.to or "",
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "o:tag": message.journey,
            f"v:{MESSAGE_ID_KEY}": message.id,
            **{f"h:{k}": v for k, v in unsubscribe_headers(message).items()},
        }
        if self.sender.reply_to:
            form["h:Reply-To"] = self.sender.reply_to
        request = self.client.post(
            f"{self.base_url}/v3/{self.domain}/messages", data=form, auth=("api", self.api_key)
        )
        return await self._post(request, json_field("id"))


def build(settings: MailgunSettings, context: ProviderContext) -> MailgunChannel:
    """The channel, once the key, the domain and the sender are known."""
    api_key, domain = settings.mailgun_account()
    return MailgunChannel(
        context.client,
        api_key=api_key,
        domain=domain,
        **email_api_options(
            settings, context, NAME, settings.mailgun_base_url, settings.mailgun_rate_limit
        ),
    )


PROVIDER = Provider(name=NAME, channels=("email",), build=build)
