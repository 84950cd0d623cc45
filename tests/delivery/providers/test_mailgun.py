"""Mailgun: exactly the messages request its API documents."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx

from service.delivery.providers.mailgun import MailgunChannel
from tests.delivery.providers.fakes import SENDER, Recorder, now, outgoing


async def test_mailgun_request() -> None:
    fake = Recorder(lambda r: httpx.Response(200, json={"id": "<mg@x>", "message": "Queued."}))
    async with fake.client() as client:
        channel = MailgunChannel(
            client, api_key="key-1", domain="mg.shop.example", sender=SENDER, now=now
        )
        result = await channel.send(outgoing())
    assert result.provider_message_id == "<mg@x>"
    [request] = fake.requests
    assert str(request.url) == "https://api.mailgun.net/v3/mg.shop.example/messages"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"api:key-1").decode()
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form["v:nurture_message_id"] == "msg-1"
    assert form["h:List-Unsubscribe"] == "<https://n.example/u/tok>"
    assert form["to"] == "ava@example.com" and form["text"] == "Hi" and form["o:tag"]
