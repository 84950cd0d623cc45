"""Provider webhooks in, canonical events out: pure verification and parsing, no I/O."""

from webhooks.callcenter import CallCenterAdapter
from webhooks.errors import (
    MalformedPayload,
    PayloadTooLarge,
    ReplayedRequest,
    SignatureError,
    StaleRequest,
    WebhookError,
)
from webhooks.events import CanonicalEvent, ConfirmSubscription, WebhookResult
from webhooks.mailgun import MailgunAdapter
from webhooks.postmark import PostmarkAdapter
from webhooks.protocol import WebhookAdapter
from webhooks.segment import SegmentAdapter
from webhooks.sendgrid import SendGridAdapter
from webhooks.ses import SesAdapter
from webhooks.standard import StandardWebhooksAdapter
from webhooks.twilio_sms import TwilioSmsAdapter
from webhooks.twilio_voice import TwilioVoiceAdapter

__all__ = [
    "CallCenterAdapter",
    "CanonicalEvent",
    "ConfirmSubscription",
    "MailgunAdapter",
    "MalformedPayload",
    "PayloadTooLarge",
    "PostmarkAdapter",
    "ReplayedRequest",
    "SegmentAdapter",
    "SendGridAdapter",
    "SesAdapter",
    "SignatureError",
    "StaleRequest",
    "StandardWebhooksAdapter",
    "TwilioSmsAdapter",
    "TwilioVoiceAdapter",
    "WebhookAdapter",
    "WebhookError",
    "WebhookResult",
]
