"""Twilio: exactly the Messages request its API documents, our id on the status callback."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx

from service.delivery.providers.twilio import TwilioSmsChannel
from tests.delivery.providers.fakes import Recorder, now, outgoing


async def test_twilio_sms_request_with_status_callback() -> None:
    fake = Recorder(lambda r: httpx.Response(201, json={"sid": "SM123", "status": "queued"}))
    async with fake.client() as client:
        channel = TwilioSmsChannel(
            client,
            account_sid="AC1",
            auth_token="tok",
            sender="+15550001111",
            status_callback="https://n.example/webhooks/twilio",
            now=now,
        )
        result = await channel.send(outgoing(channel="sms", to="+15555550123", body="Hi Ava"))
    assert result.provider_message_id == "SM123"
    [request] = fake.requests
    assert str(request.url) == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC1:tok").decode()
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {
        "To": "+15555550123",
        "From": "+15550001111",
        "Body": "Hi Ava",
        "StatusCallback": "https://n.example/webhooks/twilio?nurture_message_id=msg-1",
    }


async def test_status_callback_with_its_own_query_keeps_it() -> None:
    fake = Recorder(lambda r: httpx.Response(201, json={"sid": "SM123"}))
    async with fake.client() as client:
        channel = TwilioSmsChannel(
            client,
            account_sid="AC1",
            auth_token="tok",
            sender="+15550001111",
            status_callback="https://n.example/webhooks/twilio?tenant=a%26b&nurture_message_id=x",
            now=now,
        )
        await channel.send(outgoing(channel="sms", to="+15555550123", body="Hi Ava"))
    form = {k: v[0] for k, v in parse_qs(fake.requests[0].content.decode()).items()}
    assert form["StatusCallback"] == (
        "https://n.example/webhooks/twilio?tenant=a%26b&nurture_message_id=msg-1"
    )


async def test_twilio_messaging_service_sender() -> None:
    fake = Recorder(lambda r: httpx.Response(201, json={"sid": "SM1"}))
    async with fake.client() as client:
        channel = TwilioSmsChannel(
            client, account_sid="AC1", auth_token="t", sender="MG42", now=now
        )
        await channel.send(outgoing(channel="sms", to="+15555550123", body="x"))
    form = parse_qs(fake.requests[0].content.decode())
    assert form["MessagingServiceSid"] == ["MG42"] and "From" not in form
