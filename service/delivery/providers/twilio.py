"""Twilio Programmable Messaging; our message id rides on the status callback URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import Field, SecretStr

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.http import HttpChannel, RateLimiter, json_field
from service.delivery.providers.registry import Provider, ProviderContext
from service.settings_base import SettingsGroup, required
from webhooks.events import MESSAGE_ID_KEY

NAME = "twilio"


class TwilioSettings(SettingsGroup):
    """NURTURE_TWILIO_*: the account, the sender, the status callback, and how fast to send."""

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None  # +E.164 number or a Messaging Service SID (MG...)
    twilio_status_callback: str | None = None  # our id rides on it as a query parameter
    twilio_base_url: str = "https://api.twilio.com"
    twilio_rate_limit: float = Field(default=1.0, gt=0)

    def twilio_account(self) -> tuple[str, str, str]:
        """Account SID, auth token and sender, which sending through Twilio cannot do without."""
        needed_by = f"provider {NAME}"
        return (
            required(
                self.twilio_account_sid, setting="NURTURE_TWILIO_ACCOUNT_SID", needed_by=needed_by
            ),
            required(
                self.twilio_auth_token, setting="NURTURE_TWILIO_AUTH_TOKEN", needed_by=needed_by
            ),
            required(self.twilio_from, setting="NURTURE_TWILIO_FROM", needed_by=needed_by),
        )


def with_query_param(url: str, name: str, value: str) -> str:
    """`url` with one more query parameter, keeping any it already has (and its fragment)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))


class TwilioSmsChannel(HttpChannel):
    """One Messages request per text."""

    provider = NAME

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        account_sid: str,
        auth_token: str,
        sender: str,
        status_callback: str | None = None,
        base_url: str = "https://api.twilio.com",
        **kwargs: object,
    ) -> None:
        super().__init__(client, **kwargs)  # type: ignore[arg-type]
        self.sid, self.token, self.sender = account_sid, auth_token, sender
        self.status_callback, self.base_url = status_callback, base_url.rstrip("/")

    async def _send(self, message: OutgoingMessage) -> DeliveryResult:
        form = {"To": message.to or "", "Body": message.body}
        # A Messaging Service SID (MG...) picks the number itself; otherwise From is ours.
        form["MessagingServiceSid" if self.sender.startswith("MG") else "From"] = self.sender
        if self.status_callback:
            form["StatusCallback"] = with_query_param(
                self.status_callback, MESSAGE_ID_KEY, message.id
            )
        request = self.client.post(
            f"{self.base_url}/2010-04-01/Accounts/{self.sid}/Messages.json",
            data=form,
            auth=(self.sid, self.token),
        )
        return await self._post(request, json_field("sid"))


def build(settings: TwilioSettings, context: ProviderContext) -> TwilioSmsChannel:
    """The channel, once the account and the sender are known."""
    account_sid, auth_token, sender = settings.twilio_account()
    return TwilioSmsChannel(
        context.client,
        account_sid=account_sid,
        auth_token=auth_token,
        sender=sender,
        status_callback=settings.twilio_status_callback,
        base_url=settings.twilio_base_url,
        now=context.now,
        limiter=RateLimiter(settings.twilio_rate_limit),
    )


PROVIDER = Provider(name=NAME, channels=("sms",), build=build)
