"""Send-time rules with a fake clock: backoff with jitter and Retry-After, permanent provider
failures, the frequency cap, late claims outside the send window, and SMS safeguards."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.delivery.providers.email import Sender
from service.delivery.providers.http import classify
from service.delivery.providers.postmark import PostmarkChannel
from service.scheduler.loop import Scheduler
from service.store.models import Contact
from tests.factories import FIXTURES, Harness, journeys_copy, make_settings, running_app, signup

FAVORS_LATER = "favors"  # a stage whose own timer is weeks away, so nothing else moves


class Recorder:
    """A channel that records what it is asked to send and answers as told."""

    def __init__(self, *answers: DeliveryResult) -> None:
        self.answers = list(answers)
        self.sent: list[OutgoingMessage] = []

    async def ready(self) -> None:
        """No rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message)
        return self.answers.pop(0) if self.answers else DeliveryResult(ok=True)


async def _messages(harness: Harness) -> list[dict[str, Any]]:
    contact = await harness.contact()
    response = await harness.client.get(f"/contacts/{contact['id']}/messages")
    data: list[dict[str, Any]] = response.json()
    return data


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _queue_favors(harness: Harness) -> None:
    """Ava signed up (welcome sent to the log) and was moved to favors: one pending email."""
    await harness.post_events(signup())
    await harness.run_scheduler()
    contact = await harness.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    assert (await harness.client.post(url, json={"stage": FAVORS_LATER})).status_code == 200


async def test_backoff_is_jittered(harness: Harness) -> None:
    await _queue_favors(harness)
    channel = Recorder(DeliveryResult(ok=False, error="HTTP 503"))
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel}, jitter=lambda: 0.5)
    start = harness.clock.now()
    await scheduler.run_once(start)
    favors = (await _messages(harness))[-1]
    assert (favors["status"], favors["error"], favors["attempts"]) == ("pending", "HTTP 503", 1)
    assert _at(favors["due_at"]) == start + timedelta(seconds=33)  # 30s stretched by 10%
    harness.clock.advance(seconds=32)
    assert (await scheduler.run_once(harness.clock.now())).sent == 0
    harness.clock.advance(seconds=1)
    assert (await scheduler.run_once(harness.clock.now())).sent == 1
    assert len(channel.sent) == 2


async def test_retry_after_is_honoured(harness: Harness) -> None:
    await _queue_favors(harness)
    channel = Recorder(DeliveryResult(ok=False, error="HTTP 429", retry_after=600))
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel}, jitter=lambda: 0.9)
    start = harness.clock.now()
    await scheduler.run_once(start)
    assert _at((await _messages(harness))[-1]["due_at"]) == start + timedelta(seconds=600)


async def test_transient_failures_end_after_max_attempts(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    settings = make_settings(database_url, tmp_path, max_send_attempts=2)
    async with running_app(settings, clock) as harness:
        await _queue_favors(harness)
        failing = DeliveryResult(ok=False, error="timeout")
        scheduler = Scheduler(
            harness.app.state.runtime, {"email": Recorder(failing, failing)}, jitter=lambda: 0.0
        )
        await scheduler.run_once(clock.now())
        clock.advance(seconds=30)
        assert (await scheduler.run_once(clock.now())).failed == 1
        favors = (await _messages(harness))[-1]
        assert (favors["status"], favors["attempts"], favors["error"]) == ("failed", 2, "timeout")


def _postmark(respond: Callable[[httpx.Request], httpx.Response]) -> tuple[Any, list[Any]]:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return respond(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client, requests


@pytest.fixture
async def postmark_422() -> AsyncIterator[tuple[Any, list[Any]]]:
    client, requests = _postmark(
        lambda r: httpx.Response(422, json={"ErrorCode": 300, "Message": "Invalid 'To' address"})
    )
    async with client:
        yield client, requests


async def test_refused_credentials_wait_for_the_fix_without_using_attempts(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    settings = make_settings(database_url, tmp_path, max_send_attempts=2)
    refused = classify(
        httpx.Response(401, json={"Message": "bad token"}), provider_id=None, now=clock.now()
    )
    async with running_app(settings, clock) as harness:
        await _queue_favors(harness)
        channel = Recorder(*[refused] * 6)
        scheduler = Scheduler(harness.app.state.runtime, {"email": channel}, jitter=lambda: 0.0)
        for _ in range(6):
            await scheduler.run_once(clock.now())
            clock.advance(minutes=2)
            assert (await _messages(harness))[-1]["status"] == "pending"
        assert (await scheduler.run_once(clock.now())).sent == 1  # the key was fixed
        assert len(channel.sent) == 7


async def test_refused_credentials_never_use_the_last_attempt(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    settings = make_settings(database_url, tmp_path, max_send_attempts=1)
    refused = classify(httpx.Response(403), provider_id=None, now=clock.now())
    async with running_app(settings, clock) as harness:
        await _queue_favors(harness)
        scheduler = Scheduler(
            harness.app.state.runtime, {"email": Recorder(refused)}, jitter=lambda: 0.0
        )
        await scheduler.run_once(clock.now())
        assert (await _messages(harness))[-1]["status"] == "pending"


async def test_permanent_provider_failure_keeps_the_reason(
    harness: Harness, postmark_422: tuple[Any, list[Any]]
) -> None:
    client, requests = postmark_422
    channel = PostmarkChannel(
        client, server_token="t", sender=Sender("hi@shop.example"), now=harness.clock.now
    )
    await _queue_favors(harness)
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel})
    assert (await scheduler.run_once(harness.clock.now())).failed == 1
    harness.clock.advance(days=1)
    await scheduler.run_once(harness.clock.now())
    favors = (await _messages(harness))[-1]
    assert (favors["status"], favors["attempts"], len(requests)) == ("failed", 1, 1)
    assert favors["error"].startswith("HTTP 422") and "Invalid 'To' address" in favors["error"]


async def test_frequency_cap_delays_and_says_so(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    async with running_app(make_settings(database_url, tmp_path, frequency_cap=1), clock) as app:
        await app.post_events(signup())
        sent_at = clock.now()
        assert (await app.run_scheduler()).sent == 1
        clock.advance(seconds=3)  # the welcome stage's timer moves Ava on to favors
        report = await app.run_scheduler()
        assert (report.timers, report.sent, report.skipped) == (1, 0, 1)
        favors = (await _messages(app))[-1]
        until = sent_at + timedelta(hours=24)
        assert (favors["status"], favors["attempts"], _at(favors["due_at"])) == (
            "pending",
            0,
            until,
        )
        contact = await app.contact()
        timeline = (await app.client.get(f"/contacts/{contact['id']}/timeline")).json()
        notes = [t["data"]["text"] for t in timeline if t["kind"] == "note"]
        assert notes[-1] == f"delayed by frequency cap until {until.isoformat()}"
        clock.current = until - timedelta(seconds=1)
        assert (await app.run_scheduler()).sent == 0
        clock.current = until
        assert (await app.run_scheduler()).sent == 1
        assert len(app.outbox_lines()) == 2


async def test_late_claim_waits_for_the_send_window(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    journeys = journeys_copy(tmp_path, send_window='{start: "09:00", end: "20:00"}')
    async with running_app(
        make_settings(database_url, tmp_path, journeys_dir=journeys), clock
    ) as app:
        await _queue_favors(app)  # at 15:00 UTC, inside the window: due right away
        clock.current = clock.now().replace(hour=21)  # but the scheduler was down until 21:00
        report = await app.run_scheduler()
        assert (report.sent, report.skipped) == (0, 1)
        favors = (await _messages(app))[-1]
        next_open = clock.now().replace(hour=9) + timedelta(days=1)
        assert (favors["status"], favors["attempts"], _at(favors["due_at"])) == (
            "pending",
            0,
            next_open,
        )


async def _to_thank_you(app: Harness) -> str:
    contact = await app.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    assert (await app.client.post(url, json={"stage": "thank_you"})).status_code == 200
    return str(contact["id"])


async def test_sms_to_a_number_that_is_not_e164_fails_for_good(harness: Harness) -> None:
    await harness.post_events(signup(contact={"email": "ava@example.com", "phone": "+15555550100"}))
    await harness.run_scheduler()
    contact_id = await _to_thank_you(harness)
    with harness.app.state.runtime.db.write() as session:
        contact = session.exec(select(Contact).where(Contact.id == contact_id)).one()
        contact.phone = "555-0100"  # imported straight into the database, never validated
        session.add(contact)
    sms = Recorder()
    scheduler = Scheduler(harness.app.state.runtime, {"sms": sms})
    assert (await scheduler.run_once(harness.clock.now())).failed == 1
    message = (await _messages(harness))[-1]
    assert (message["channel"], message["status"], sms.sent) == ("sms", "failed", [])
    assert "E.164" in message["error"]


async def test_first_sms_of_a_journey_carries_an_opt_out_hint(
    database_url: str, tmp_path: Path, clock: Any
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", content)
    (content / "story" / "thank_you.sms.j2").write_text("{% block body %}Thank you!{% endblock %}")
    settings = make_settings(database_url, tmp_path, content_dir=content)
    async with running_app(settings, clock) as app:
        await app.post_events(signup(contact={"email": "ava@example.com", "phone": "+15555550100"}))
        await app.run_scheduler()
        sms = Recorder()
        scheduler = Scheduler(app.app.state.runtime, {"sms": sms})
        await _to_thank_you(app)
        await scheduler.run_once(clock.now())
        clock.advance(seconds=1)
        await _to_thank_you(app)  # a second visit: she has had the hint already
        await scheduler.run_once(clock.now())
        assert [m.body for m in sms.sent] == ["Thank you!\nReply STOP to opt out", "Thank you!"]
