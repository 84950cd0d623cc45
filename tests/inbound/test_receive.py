"""The receiving pipeline with a fake adapter: verify, the provider's own steps, parse, ingest."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from service.enrollments.acceptor import Acceptor
from service.enrollments.repository import forget_applied
from service.errors import NotFound
from service.inbound.receive import Delivery, Inbound, process, public_url
from service.inbound.registry import Endpoint
from service.runtime import Runtime
from service.store.intake import InboxEvent
from service.store.models import Contact, Event
from tests.factories import FakeClock, apply_inbox, make_settings, stored
from webhooks.errors import ReplayedRequest, SignatureError, WebhookError
from webhooks.events import CanonicalEvent, WebhookResult
from webhooks.protocol import WebhookAdapter

URL = "https://nurture.example/webhooks/fake?nurture_message_id=m-1"


def opened(event_id: str = "evt-1", **contact: str) -> CanonicalEvent:
    """An email.opened event about Ava unless another contact is named."""
    return CanonicalEvent(
        id=event_id,
        source="fake",
        type="email.opened",
        time=datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        **(contact or {"email": "ava@example.com"}),
    )


class FakeAdapter(WebhookAdapter):
    """Answers with the events it was given, or refuses when told to; records its calls."""

    MAX_BODY_BYTES = 1024

    def __init__(self, *events: CanonicalEvent, refuse: WebhookError | None = None) -> None:
        self.source = "fake"
        self.events = list(events)
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []

    def verify(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> None:
        self.calls.append(("verify", url))
        if self.refuse is not None:
            raise self.refuse

    def parse(
        self, raw_body: bytes, headers: Mapping[str, str], *, now: datetime, url: str
    ) -> WebhookResult:
        self.calls.append(("parse", url))
        return WebhookResult(events=self.events, body="ok")


def count(runtime: Runtime, table: type[Event] | type[Contact]) -> int:
    with runtime.db.session() as session:
        found: int = session.exec(select(func.count()).select_from(table)).one()
    return found


def test_a_verified_request_is_parsed_and_ingested(runtime: Runtime, acceptor: Acceptor) -> None:
    adapter = FakeAdapter(opened())
    result = process(runtime, acceptor, Endpoint(adapter), Delivery(b"{}", {}, URL))
    assert result.body == "ok"
    assert adapter.calls == [("verify", URL), ("parse", URL)]  # both see the called URL
    apply_inbox(runtime)
    assert count(runtime, Event) == 1


def test_a_refused_signature_stores_nothing(runtime: Runtime, acceptor: Acceptor) -> None:
    adapter = FakeAdapter(opened(), refuse=SignatureError("signature does not match"))
    spent: list[bytes] = []

    def spend(runtime: Runtime, raw_body: bytes, *, now: datetime) -> None:
        spent.append(raw_body)

    with pytest.raises(SignatureError) as refused:
        process(runtime, acceptor, Endpoint(adapter, after_verify=spend), Delivery(b"{}", {}, URL))
    assert (refused.value.status_code, refused.value.code) == (401, "invalid_signature")
    assert adapter.calls == [("verify", URL)]  # never parsed
    assert spent == []  # and its token, if any, is not spent
    apply_inbox(runtime)
    assert (count(runtime, Event), count(runtime, Contact)) == (0, 0)


def test_a_refusal_after_verification_stores_nothing(runtime: Runtime, acceptor: Acceptor) -> None:
    adapter = FakeAdapter(opened())

    def replayed(runtime: Runtime, raw_body: bytes, *, now: datetime) -> None:
        raise ReplayedRequest("signature token was already used for another request")

    with pytest.raises(ReplayedRequest):
        process(
            runtime, acceptor, Endpoint(adapter, after_verify=replayed), Delivery(b"{}", {}, URL)
        )
    assert adapter.calls == [("verify", URL)]
    apply_inbox(runtime)
    assert count(runtime, Event) == 0


def test_bad_events_are_skipped_and_logged(
    runtime: Runtime, acceptor: Acceptor, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = CanonicalEvent(id="evt-nobody", source="fake", type="email.opened", time=opened().time)
    stranger = opened("evt-stranger", contact_id="00000000-0000-0000-0000-000000000000")
    adapter = FakeAdapter(nobody, stranger, opened("evt-good"))
    with caplog.at_level(logging.WARNING, logger="service.inbound.receive"):
        process(runtime, acceptor, Endpoint(adapter), Delivery(b"{}", {}, URL))
    skipped = sorted(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert len(skipped) == 2
    assert skipped[0].startswith("fake event evt-nobody skipped: ")
    assert skipped[1].startswith("fake event evt-stranger skipped: unknown contact id")
    apply_inbox(runtime)
    with runtime.db.session() as session:
        assert session.exec(select(Event.event_id)).all() == ["evt-good"]


def test_a_duplicate_has_no_second_effect(runtime: Runtime, acceptor: Acceptor) -> None:
    endpoint = Endpoint(FakeAdapter(opened(), opened()))
    process(runtime, acceptor, endpoint, Delivery(b"{}", {}, URL))
    process(runtime, acceptor, endpoint, Delivery(b"{}", {}, URL))
    apply_inbox(runtime)
    assert (count(runtime, Event), count(runtime, Contact)) == (1, 1)


def test_a_delivery_is_stored_and_answered_before_it_is_applied(
    runtime: Runtime, acceptor: Acceptor
) -> None:
    result = process(runtime, acceptor, Endpoint(FakeAdapter(opened())), Delivery(b"{}", {}, URL))
    assert result.body == "ok"
    [row] = stored(runtime, InboxEvent)
    assert (row.source, row.event_id, row.applied_at) == ("fake", "evt-1", None)
    assert (count(runtime, Event), count(runtime, Contact)) == (0, 0)
    assert apply_inbox(runtime) == 1
    with runtime.db.session() as session:
        event = session.exec(select(Event)).one()
        contact = session.exec(select(Contact)).one()
    assert (event.event_id, event.type, event.contact_id) == ("evt-1", "email.opened", contact.id)
    assert contact.email == "ava@example.com"


def test_a_redelivery_is_one_effect_however_late_it_comes(
    runtime: Runtime, acceptor: Acceptor
) -> None:
    endpoint = Endpoint(FakeAdapter(opened("evt-1"), opened("evt-2")))
    again = Endpoint(FakeAdapter(opened("evt-2"), opened("evt-1")))  # out of order
    process(runtime, acceptor, endpoint, Delivery(b"{}", {}, URL))
    process(runtime, acceptor, again, Delivery(b"{}", {}, URL))  # before it is applied
    assert apply_inbox(runtime) == 2
    with runtime.db.write() as session:  # past the inbox retention: the events table knows
        forget_applied(session, before=runtime.clock.now() + timedelta(days=1), limit=100)
    process(runtime, acceptor, again, Delivery(b"{}", {}, URL))
    assert apply_inbox(runtime) == 2
    assert (count(runtime, Event), count(runtime, Contact)) == (2, 1)


async def test_the_providers_own_steps_run_around_the_pipeline(
    runtime: Runtime, acceptor: Acceptor, tmp_path: Path, clock: FakeClock
) -> None:
    steps: list[str] = []
    clients: list[httpx.AsyncClient] = []

    async def before(raw_body: bytes, *, client: httpx.AsyncClient, now: datetime) -> None:
        steps.append(f"before {raw_body.decode()} at {now:%H:%M}")
        clients.append(client)

    def after_verify(runtime: Runtime, raw_body: bytes, *, now: datetime) -> None:
        steps.append("after verify")

    async def after(result: WebhookResult, *, client: httpx.AsyncClient) -> None:
        steps.append(f"after ingest of {len(result.events)} event(s)")
        clients.append(client)

    endpoint = Endpoint(FakeAdapter(opened()), before, after_verify, after)
    inbound = Inbound(make_settings(runtime.settings.database_url, tmp_path))
    try:
        result = await inbound.receive(runtime, acceptor, endpoint, Delivery(b"{}", {}, URL))
    finally:
        await inbound.aclose()
    assert result.body == "ok"
    assert steps == ["before {} at 15:00", "after verify", "after ingest of 1 event(s)"]
    assert clients == [inbound.client, inbound.client]


async def test_unconfigured_providers_are_not_found(runtime: Runtime, tmp_path: Path) -> None:
    inbound = Inbound(make_settings(runtime.settings.database_url, tmp_path))
    try:
        assert inbound.endpoints == {}
        with pytest.raises(NotFound, match="no webhook provider 'sendgrid' is configured"):
            inbound.provider("sendgrid")
    finally:
        await inbound.aclose()


@pytest.mark.parametrize(
    ("base", "query", "expected"),
    [
        ("https://n.example/", "", "https://n.example/webhooks/twilio"),
        ("https://n.example", "a=1", "https://n.example/webhooks/twilio?a=1"),
    ],
)
def test_public_url_is_the_address_the_provider_called(
    base: str, query: str, expected: str
) -> None:
    assert public_url(base, "/webhooks/twilio", query) == expected
