"""`nurture render --send-to`: one rendered message sent once through the configured
provider, so a marketer sees it in a real inbox. It is marked as a test in its subject and
ids and never stored as a message, so no figure ever counts it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime

from service.config import Settings
from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers import http_client
from service.delivery.setup import build_channels
from service.engine.render import Rendered
from service.errors import InvalidInput
from webhooks.common import is_e164

TEST_PREFIX = "[test] "


def _check_address(channel: str, address: str) -> None:
    """An email goes to an address, an SMS to an E.164 number; webhooks go to their URL."""
    if channel == "email" and "@" not in address:
        raise InvalidInput(f"--send-to {address!r} is no email address", field="send_to")
    if channel == "sms" and not is_e164(address):
        raise InvalidInput(f"--send-to {address!r} is not E.164 (+ and digits)", field="send_to")
    if channel == "webhook":
        raise InvalidInput("webhook stages cannot be sent as a test", field="send_to")


def as_test_message(rendered: Rendered, *, journey: str, stage: str, to: str) -> OutgoingMessage:
    """The message as a provider gets it, with test ids that tie no feedback to any contact."""
    token = uuid.uuid4().hex
    subject = TEST_PREFIX + rendered.subject if rendered.channel == "email" else ""
    return OutgoingMessage(
        **asdict(replace(rendered, subject=subject)),  # its channel, template and parts
        id=f"test-{token}",
        idempotency_key=f"test:{token}",
        contact_id="test",
        journey=journey,
        stage=stage,
        to=to,
        url=None,
        unsubscribe_url="",
    )


async def _send(settings: Settings, message: OutgoingMessage) -> DeliveryResult:
    async with http_client(settings) as client:
        channels = build_channels(settings, client=client, now=lambda: datetime.now(UTC))
        channel = channels[message.channel]
        await channel.ready()
        return await channel.send(message)


def send_test(settings: Settings, message: OutgoingMessage) -> DeliveryResult:
    """Hand the message to the channel settings choose for it, once, and say how it went."""
    _check_address(message.channel, message.to or "")
    settings.check_link_secret()
    return asyncio.run(_send(settings, message))
