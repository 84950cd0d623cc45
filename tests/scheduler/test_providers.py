"""Each provider channel sends exactly the request its API documents, and classifies answers."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
from standardwebhooks import Webhook

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import Sender
from service.delivery.providers.http import retry_after_seconds
from service.delivery.providers.mailgun import MailgunChannel
from service.delivery.providers.postmark import PostmarkChannel
from service.delivery.providers.sendgrid import SendGridChannel
from service.delivery.providers.twilio import TwilioSmsChannel
from service.delivery.providers.webhook import WebhookChannel

NOW = datetime(2027, 1, 4, 15, tzinfo=UTC)
SENDER = Sender(email="hello@shop.example", name="Linden Paper Co.", reply_to="help@shop.example")
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def _message(**overrides: object) -> OutgoingMessage:
    fields: dict[str, object] = {
        "id": "msg-1",
        "idempotency_key": "enr-1:welcome:1",
        "contact_id": "c1",
        "journey": "bride-wedding-timeline",
        "stage": "welcome",
        "channel": "email",
        "template": "bride/welcome",
        "to": "ava@example.com",
        "subject": "Welcome, Ava",
        "preheader": "",
        "html": "<p>Hi</p>",
        "text": "Hi",
        "body": "",
        "url": None,
        "unsubscribe_url": "https://n.example/u/tok",
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)  # type: ignore[arg-type]


class Recorder:
    """A fake provider: records requests and answers with a canned response."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.respond = respond

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def _now() -> datetime:
    return NOW


async def test_sendgrid_request_and_message_id() -> None:
    fake = Recorder(lambda r: httpx.Response(202, headers={"X-Message-Id": "sg-123"}))
    async with fake.client() as client:
        result = await SendGridChannel(client, api_key="SG.key", sender=SENDER, now=_now).send(
            _message()
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


async def test_postmark_request() -> None:
    fake = Recorder(lambda r: httpx.Response(200, json={"ErrorCode": 0, "MessageID": "pm-9"}))
    async with fake.client() as client:
        channel = PostmarkChannel(client, server_token="pm-token", sender=SENDER, now=_now)
        result = await channel.send(_message())
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


async def test_mailgun_request() -> None:
    fake = Recorder(lambda r: httpx.Response(200, json={"id": "<mg@x>", "message": "Queued."}))
    async with fake.client() as client:
        channel = MailgunChannel(
            client, api_key="key-1", domain="mg.shop.example", sender=SENDER, now=_now
        )
        result = await channel.send(_message())
    assert result.provider_message_id == "<mg@x>"
    [request] = fake.requests
    assert str(request.url) == "https://api.mailgun.net/v3/mg.shop.example/messages"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"api:key-1").decode()
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form["v:nurture_message_id"] == "msg-1"
    assert form["h:List-Unsubscribe"] == "<https://n.example/u/tok>"
    assert form["to"] == "ava@example.com" and form["text"] == "Hi" and form["o:tag"]


async def test_twilio_sms_request_with_status_callback() -> None:
    fake = Recorder(lambda r: httpx.Response(201, json={"sid": "SM123", "status": "queued"}))
    async with fake.client() as client:
        channel = TwilioSmsChannel(
            client,
            account_sid="AC1",
            auth_token="tok",
            sender="+15550001111",
            status_callback="https://n.example/webhooks/twilio",
            now=_now,
        )
        result = await channel.send(_message(channel="sms", to="+15555550123", body="Hi Ava"))
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
            now=_now,
        )
        await channel.send(_message(channel="sms", to="+15555550123", body="Hi Ava"))
    form = {k: v[0] for k, v in parse_qs(fake.requests[0].content.decode()).items()}
    assert form["StatusCallback"] == (
        "https://n.example/webhooks/twilio?tenant=a%26b&nurture_message_id=msg-1"
    )


async def test_refused_credentials_are_retried_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = Recorder(lambda r: httpx.Response(401, json={"message": "bad key"}))
    async with fake.client() as client:
        channel = SendGridChannel(client, api_key="k", sender=SENDER, now=_now)
        results = [await channel.send(_message()) for _ in range(3)]
    assert all(not r.ok and not r.permanent for r in results)
    refusals = [r for r in caplog.records if "refused our credentials" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].levelname == "ERROR"
    assert "sendgrid" in refusals[0].getMessage()


async def test_twilio_messaging_service_sender() -> None:
    fake = Recorder(lambda r: httpx.Response(201, json={"sid": "SM1"}))
    async with fake.client() as client:
        channel = TwilioSmsChannel(
            client, account_sid="AC1", auth_token="t", sender="MG42", now=_now
        )
        await channel.send(_message(channel="sms", to="+15555550123", body="x"))
    form = parse_qs(fake.requests[0].content.decode())
    assert form["MessagingServiceSid"] == ["MG42"] and "From" not in form


async def test_webhook_channel_is_signed_the_standard_way() -> None:
    fake = Recorder(lambda r: httpx.Response(204))
    message = _message(
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


@pytest.mark.parametrize(
    ("status", "headers", "permanent", "retry_after"),
    [
        (429, {"Retry-After": "30"}, False, 30.0),
        (503, {"Retry-After": "Mon, 04 Jan 2027 15:02:00 GMT"}, False, 120.0),
        (500, {}, False, None),
        (400, {}, True, None),
        (429, {"Retry-After": "86400"}, False, 3600.0),
        (503, {"Retry-After": "Tue, 05 Jan 2027 15:00:00 GMT"}, False, 3600.0),
        (401, {}, False, None),
        (403, {}, False, None),
        (422, {}, True, None),
    ],
)
async def test_failures_are_classified(
    status: int, headers: dict[str, str], permanent: bool, retry_after: float | None
) -> None:
    fake = Recorder(
        lambda r: httpx.Response(
            status, headers=headers, json={"ErrorCode": 406, "Message": "Inactive"}
        )
    )
    async with fake.client() as client:
        result = await PostmarkChannel(client, server_token="t", sender=SENDER, now=_now).send(
            _message()
        )
    assert not result.ok
    assert result.permanent is permanent
    assert result.retry_after == retry_after
    assert result.error is not None and result.error.startswith(f"HTTP {status}:")
    assert "Inactive" in result.error


async def test_timeouts_and_network_errors_are_transient() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(boom)) as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=_now).send(
            _message()
        )
    assert result == DeliveryResult(ok=False, error="provider timed out")

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refused)) as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=_now).send(
            _message()
        )
    assert not result.ok and not result.permanent and result.error == "network error: ConnectError"


async def test_missing_address_is_permanent_and_sends_nothing() -> None:
    fake = Recorder(lambda r: httpx.Response(202))
    async with fake.client() as client:
        result = await SendGridChannel(client, api_key="k", sender=SENDER, now=_now).send(
            _message(to=None)
        )
    assert result.permanent and not fake.requests


def test_retry_after_ignores_garbage() -> None:
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"}), NOW) is None
