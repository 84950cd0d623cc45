"""SendGrid: exactly the Mail Send request its API documents."""

from __future__ import annotations

import json

import httpx

from service.delivery.channels import DeliveryResult
from service.delivery.providers.sendgrid import SendGridChannel
from tests.delivery.providers.fakes import SENDER, Recorder, now, outgoing


async def test_sendgrid_request_and_message_id() -> None:
    fake = Recorder(lambda r: httpx.Response(202, headers={"X-Message-Id": "sg-123"}))
    async with fake.client() as client:
        result = await SendGridChannel(client, api_key="SG.key", sender=SENDER, now=now).send(
            outgoing()
        )
    assert result == DeliveryResult(ok=True, provider_message_id="sg-123")
    [request] = fake.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.sendgrid.com/v3/mail/send"
    assert request.headers["authorization"] == "Bearer SG.key"
    assert json.loads(request.content) == {
        "personalizations": [
            {"to": [{"email": "ava@example.com"}], "custom_args": {"nurture_message_id": "msg-1"}}
        ],
        "from": {"email": "hello@shop.example", "name": "Linden Paper Co."},
        "reply_to": {"email": "help@shop.example"},
        "subject": "Welcome, Ava",
        "content": [
            {"type": "text/plain", "value": "Hi"},
            {"type": "text/html", "value": "<p>Hi</p>"},
        ],
        "headers": {
            "List-Unsubscribe": "<https://n.example/u/tok>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "categories": ["bride-wedding-timeline"],
    }
