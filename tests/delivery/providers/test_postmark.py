"""Postmark: exactly the /email request its API documents."""

from __future__ import annotations

import json

import httpx

from service.delivery.providers.postmark import PostmarkChannel
from tests.delivery.providers.fakes import SENDER, Recorder, now, outgoing


async def test_postmark_request() -> None:
    fake = Recorder(lambda r: httpx.Response(200, json={"ErrorCode": 0, "MessageID": "pm-9"}))
    async with fake.client() as client:
        channel = PostmarkChannel(client, server_token="pm-token", sender=SENDER, now=now)
        result = await channel.send(outgoing())
    assert result.ok and result.provider_message_id == "pm-9"
    [request] = fake.requests
    assert str(request.url) == "https://api.postmarkapp.com/email"
    assert request.headers["x-postmark-server-token"] == "pm-token"
    assert request.headers["accept"] == "application/json"
    body = json.loads(request.content)
    assert body["From"] == "Linden Paper Co. <hello@shop.example>"
    assert body["To"] == "ava@example.com" and body["MessageStream"] == "broadcast"
    assert body["Metadata"] == {"nurture_message_id": "msg-1"}
    assert body["TextBody"] == "Hi" and body["HtmlBody"] == "<p>Hi</p>"
    assert {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"} in body[
        "Headers"
    ]
    assert body["ReplyTo"] == "help@shop.example"
