"""The built-in send providers, registered here so settings can choose them by name."""

# Each provider's channel turns a rendered message into the request its provider documents,
# sends our message id as provider metadata so webhooks can be tied back to it, and classifies
# the answer (see `http`). Adding one: a module with its settings class (credential checks
# included), its channel and its `PROVIDER`, plus its registration and settings class here.

from service.delivery.providers import log, mailgun, postmark, sendgrid, smtp, twilio, webhook
from service.delivery.providers.http import HttpSettings, http_client
from service.delivery.providers.registry import Provider, ProviderContext, ProviderRegistry


class ProviderSettings(
    log.LogSettings,
    sendgrid.SendGridSettings,
    postmark.PostmarkSettings,
    mailgun.MailgunSettings,
    smtp.SmtpSettings,
    twilio.TwilioSettings,
    webhook.OutgoingWebhookSettings,
    HttpSettings,
):
    """Every built-in provider's settings."""


PROVIDERS: ProviderRegistry[ProviderSettings] = ProviderRegistry()
for provider in (
    log.PROVIDER,
    sendgrid.PROVIDER,
    postmark.PROVIDER,
    mailgun.PROVIDER,
    smtp.PROVIDER,
    twilio.PROVIDER,
    webhook.PROVIDER,
):
    PROVIDERS.register(provider)


__all__ = [
    "PROVIDERS",
    "Provider",
    "ProviderContext",
    "ProviderSettings",
    "http_client",
]
