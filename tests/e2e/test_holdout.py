"""A journey's holdout through the running service: holdout contacts move exactly as
everyone does, their messages pass every send rule and are recorded `held` at the moment of
hand-over, and none ever reaches a channel (the log channel's outbox, a fake Postmark)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from service.delivery.setup import build_channels
from service.engine.groups import in_holdout
from service.runtime import Runtime
from service.scheduler.loop import Scheduler
from service.store.models import Enrollment, Message, MessageStatus, TransitionRecord
from tests.factories import (
    FakeClock,
    Harness,
    add_contact,
    event,
    journeys_copy,
    make_settings,
    newsletter_journey,
    running_app,
    signup,
    stored,
)

JOURNEY = "wedding-story"
HELD = {"email": "held@example.com", "phone": "+15555550101"}
TREATED = {"email": "treated@example.com", "phone": "+15555550102"}


def _contact_id(*, holdout: bool) -> str:
    """A contact id the wedding story's 50% holdout puts in the group asked for."""
    return next(
        f"contact-{n}" for n in range(100) if in_holdout(f"contact-{n}", JOURNEY, 0.5) is holdout
    )


def _journeys(tmp_path: Path, **extra: str) -> Path:
    """The fixture journeys, the wedding story with a 50% holdout."""
    folder = journeys_copy(tmp_path, extra=extra)
    story = folder / f"{JOURNEY}.yaml"
    story.write_text(
        story.read_text().replace("persona: bride\n", "persona: bride\nholdout: 50%\n")
    )
    return folder


def _two_contacts(runtime: Runtime) -> tuple[str, str]:
    held, treated = _contact_id(holdout=True), _contact_id(holdout=False)
    add_contact(runtime, id=held, **HELD)
    add_contact(runtime, id=treated, **TREATED)
    return held, treated


SEQUENCE = ["story/welcome", "story/favors", "story/thank_you"]  # ties the clock cannot break


def _messages(runtime: Runtime, contact_id: str) -> list[Message]:
    rows = stored(runtime, Message, contact_id=contact_id)
    return sorted(rows, key=lambda m: (m.created_at, SEQUENCE.index(m.template)))


def _moves(runtime: Runtime, contact_id: str) -> list[tuple[Any, ...]]:
    rows = sorted(stored(runtime, TransitionRecord, contact_id=contact_id), key=lambda t: t.seq)
    return [(t.from_stage, t.to_stage, t.trigger, t.at) for t in rows]


async def _signups(app: Harness) -> None:
    for contact in (HELD, TREATED):
        response = await app.post_events(signup(contact["email"]))
        assert response.status_code == 200, response.text


async def test_holdout_moves_alike_and_nothing_reaches_the_log_channel(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, journeys_dir=_journeys(tmp_path))
    async with running_app(settings, clock) as app:
        runtime = app.app.state.runtime
        held, treated = _two_contacts(runtime)
        await _signups(app)
        passes: list[tuple[int, int, datetime]] = []

        async def scheduler_pass() -> None:
            report = await app.run_scheduler()
            passes.append((report.sent, report.held, clock.now()))

        await scheduler_pass()  # the welcome mails
        clock.advance(seconds=3)
        await scheduler_pass()  # both move on by the timer: the favors mails
        for contact in (HELD, TREATED):
            order = event(
                "order.completed",
                email=contact["email"],
                properties={"categories": ["favors"], "revenue": 40},
            )
            await app.post_events(order)
        await scheduler_pass()  # the thank-you texts
        clock.advance(seconds=2)
        await scheduler_pass()  # both done
        clock.advance(hours=1)
        await scheduler_pass()  # nothing is ever claimed again
        assert [(sent, held_) for sent, held_, _ in passes] == [(1, 1)] * 3 + [(0, 0)] * 2

        for contact, holdout in ((HELD, True), (TREATED, False)):
            body = await app.contact(contact["email"])
            assert [(e["status"], e["holdout"]) for e in body["enrollments"]] == [
                ("completed", holdout)
            ]
        timeline = (await app.client.get(f"/contacts/{held}/timeline")).json()

    lines = [json.loads(line) for line in app.outbox_lines()]
    assert [line["to"] for line in lines] == [
        TREATED["email"],
        TREATED["email"],
        TREATED["phone"],
    ]
    assert not any(value in text for text in app.outbox_lines() for value in HELD.values())

    # The same moves at the same moments; the holdout's messages held when they would go out.
    assert [m[:3] for m in _moves(runtime, held)] == [m[:3] for m in _moves(runtime, treated)]
    assert [m[3] for m in _moves(runtime, held)] == [m[3] for m in _moves(runtime, treated)]
    mine, theirs = _messages(runtime, held), _messages(runtime, treated)
    assert [(m.template, m.status) for m in theirs] == [
        ("story/welcome", MessageStatus.SENT),
        ("story/favors", MessageStatus.SENT),
        ("story/thank_you", MessageStatus.SENT),
    ]
    assert [(m.template, m.status) for m in mine] == [
        ("story/welcome", MessageStatus.HELD),
        ("story/favors", MessageStatus.HELD),
        ("story/thank_you", MessageStatus.HELD),
    ]
    assert [m.sent_at for m in mine] == [m.sent_at for m in theirs] == [p[2] for p in passes[:3]]
    assert all(m.provider_message_id is None and m.attempts == 1 for m in mine)
    assert mine[0].subject == theirs[0].subject == "Welcome, Ava!"  # what she would have got
    # The favors mail and the thank-you text are held at the same moment of the fake clock.
    assert next(e["summary"] for e in timeline if e["kind"] == "message") == (
        "email story/welcome: held"
    )
    assert sorted(e["summary"] for e in timeline if e["kind"] == "message") == [
        "email story/favors: held",
        "email story/welcome: held",
        "sms story/thank_you: held",
    ]
    entry = next(e for e in timeline if e["kind"] == "transition")
    assert entry["summary"] == "wedding-story: (start) -> welcome (holdout)"


class FakePostmark:
    """Postmark answering through httpx.MockTransport, keeping every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"ErrorCode": 0, "MessageID": f"pm-{len(self.requests)}"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def recipients(self) -> list[str]:
        return [json.loads(r.content)["To"] for r in self.requests]


async def test_no_holdout_message_reaches_the_provider(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    postmark = FakePostmark()
    settings = make_settings(
        database_url,
        tmp_path,
        journeys_dir=_journeys(tmp_path),
        email_provider="postmark",
        postmark_server_token="server-token",
        email_from="hello@shop.example",
    )
    async with running_app(settings, clock) as app, postmark.client() as client:
        runtime = app.app.state.runtime
        # The service's own scheduler pass, its Postmark channel talking to the fake.
        scheduler = Scheduler(runtime, build_channels(settings, client=client, now=clock.now))
        held, treated = _two_contacts(runtime)
        await _signups(app)
        first = await scheduler.run_once(clock.now())
        clock.advance(seconds=3)
        second = await scheduler.run_once(clock.now())
    assert [(r.sent, r.held) for r in (first, second)] == [(1, 1), (1, 1)]
    assert postmark.recipients() == [TREATED["email"], TREATED["email"]]
    assert [m.provider_message_id for m in _messages(runtime, treated)] == ["pm-1", "pm-2"]
    assert {m.status for m in _messages(runtime, held)} == {MessageStatus.HELD}
    assert [e.holdout for e in stored(runtime, Enrollment, contact_id=held)] == [True]


async def test_held_messages_never_delay_a_real_send_but_wait_as_one_would(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = _journeys(tmp_path, newsletter=newsletter_journey())
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys, frequency_cap=1)
    async with running_app(settings, clock) as app:
        runtime = app.app.state.runtime
        held, treated = _two_contacts(runtime)
        await _signups(app)
        assert (await app.run_scheduler()).held == 1  # her welcome: held, his: sent
        for contact in (HELD, TREATED):
            news = event("web.page_viewed", email=contact["email"], properties={"page": "news"})
            await app.post_events(news)
        report = await app.run_scheduler()
        clock.advance(seconds=3)
        await app.run_scheduler()  # the favors mails, after both welcomes within 24h
    # Her newsletter (no holdout there) goes out: her held welcome reached nobody. His waits.
    assert report.sent == 1
    news = {
        c: next(m for m in _messages(runtime, c) if m.journey_id == "newsletter")
        for c in (held, treated)
    }
    assert news[held].status == MessageStatus.SENT
    assert news[treated].status == MessageStatus.PENDING
    assert (news[treated].error or "").startswith("delayed by frequency cap")
    # Her favors mail waits for the cap as his does: the holdout's timing stays the same.
    favors = {
        c: next(m for m in _messages(runtime, c) if (m.journey_id, m.stage) == (JOURNEY, "favors"))
        for c in (held, treated)
    }
    assert {m.status for m in favors.values()} == {MessageStatus.PENDING}
    assert favors[held].due_at == favors[treated].due_at
