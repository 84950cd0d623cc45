"""A fake HTTP provider and a rendered message, shared by the provider tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from service.delivery.channels import OutgoingMessage
from service.delivery.providers.email import Sender

NOW = datetime(2027, 1, 4, 15, tzinfo=UTC)
SENDER = Sender(email="hello@shop.example", name="Linden Paper Co.", reply_to="help@shop.example")


def outgoing(**overrides: object) -> OutgoingMessage:
    """A rendered email to Ava, with any field overridden."""
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


def now() -> datetime:
    return NOW
