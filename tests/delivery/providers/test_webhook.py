"""Outgoing webhooks: signed so the official Standard Webhooks verifier accepts them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from service.delivery.providers.webhook import WebhookChannel
from tests.delivery.providers.fakes import Recorder, outgoing

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


async def test_webhook_channel_is_signed_the_standard_way() -> None:
    fake = Recorder(lambda r: httpx.Response(204))
    message = outgoing(
        channel="webhook", to=None, body='{"stage": "handoff"}', url="https://crm.example/h"
    )
    async with fake.client() as client:
        # The official verifier reads the real clock, so this one test signs with it too.
        result = await WebhookChannel(client, secret=SECRET, now=lambda: datetime.now(UTC)).send(
            message
        )
    assert result.ok
    [request] = fake.requests
    assert str(request.url) == "https://crm.example/h"
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    assert headers["webhook-id"] == "enr-1:welcome:1"
    # The official Standard Webhooks library accepts our signature.
    assert Webhook(SECRET).verify(request.content, dict(request.headers)) == {"stage": "handoff"}
