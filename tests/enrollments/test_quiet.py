"""Quiet events applied a chunk at a time leave every table exactly as applying them one by
one does, and only events that change nothing but their own record take that way."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy import event as sqlalchemy_event
from sqlmodel import SQLModel

from service.enrollments import inbox, quiet
from service.enrollments import repository as enrollments_repo
from service.runtime import Runtime
from service.scheduler.loop import Scheduler
from service.schemas import EventIn
from service.store.intake import InboxEvent
from service.store.models import Contact, Event, Message
from tests.factories import (
    FakeClock,
    event,
    ingest,
    make_settings,
    open_runtime,
    signup,
    stored,
)

Story = list[tuple[int, list[dict[str, Any]]]]  # rounds: seconds the clock moves, events


def _feedback(type: str, email: str, id: str, message: str, **kwargs: Any) -> dict[str, Any]:
    """Provider feedback on a message: `stage:email` names a message of the story, looked up
    when played (its id is random), any other value is sent as it is."""
    properties = {"message_id": message, **kwargs.pop("properties", {})}
    return event(type, email=email, id=id, properties=properties, **kwargs)


def _story() -> Story:
    """Four rounds of the fixture journeys, their due messages sent after each; her welcome
    timer (3 s) is due in the third."""
    view, click = "web.page_viewed", "email.clicked"
    delivered, opened, bounced = "email.delivered", "email.opened", "email.bounced"
    return [
        (
            0,
            [
                signup("ava@example.com", id="s-ava"),
                signup("bea@example.com", id="s-bea"),
                signup("cai@example.com", id="s-cai"),
                event(view, email="dana@example.com", id="v-dana-1"),
                event(view, email="eve@example.com", id="v-eve-1", properties={"page": "sale"}),
            ],
        ),
        (
            1,
            [
                _feedback(delivered, "ava@example.com", "q-ava-fb-1", "welcome:ava@example.com"),
                _feedback(opened, "ava@example.com", "q-ava-fb-2", "welcome:ava@example.com"),
                _feedback(opened, "bea@example.com", "q-bea-fb-1", "welcome:bea@example.com"),
                _feedback(  # a late report of an earlier status
                    delivered,
                    "bea@example.com",
                    "q-bea-fb-2",
                    "welcome:bea@example.com",
                    time="2026-03-02T14:59:59Z",
                ),
                _feedback(opened, "eve@example.com", "q-eve-fb-1", "welcome:cai@example.com"),
                _feedback(delivered, "dana@example.com", "q-dana-fb-1", str(uuid.UUID(int=9))),
                event(view, email="ava@example.com", id="q-ava-1", properties={"page": "home"}),
                event("email.opened", email="ava@example.com", id="q-ava-2"),
                event(view, email="bea@example.com", id="q-bea-1"),
                event(click, email="bea@example.com", id="q-bea-2", properties={"link": "x"}),
                _feedback(
                    click,
                    "cai@example.com",
                    "m-cai-1",
                    "welcome:cai@example.com",
                    properties={"link": "favors"},
                ),
                event(view, email="cai@example.com", id="cai-2"),
                _feedback(opened, "cai@example.com", "cai-fb-1", "welcome:cai@example.com"),
                event(view, email="dana@example.com", id="q-dana-2", time="2020-01-01T00:00:00Z"),
                event(view, email="ava@example.com", id="m-ava-3", properties={"page": "sale"}),
                event(
                    view, contact={"email": "dana@example.com", "external_id": "d-1"}, id="m-dana-3"
                ),
                event(view, contact={"id": str(uuid.UUID(int=7))}, id="m-nobody"),
                event(view, email="eve@example.com", id="q-eve-2"),
            ],
        ),
        (
            3,
            [
                event(view, email="ava@example.com", id="m-ava-4"),  # her welcome timer is due
                event(
                    "order.completed",
                    email="dana@example.com",
                    id="m-dana-4",
                    properties={"revenue": 40},
                ),
                event("email.unsubscribed", email="bea@example.com", id="m-bea-3"),
                event(view, email="bea@example.com", id="bea-4"),
            ],
        ),
        (
            1,
            [
                event(view, contact={"external_id": "d-1"}, id="q-dana-5"),
                event(view, email="eve@example.com", id="m-eve-3", attributes={"plan": "pro"}),
                event(view, email="eve@example.com", id="eve-4"),
                event(view, email="ava@example.com", id="q-ava-5"),
                _feedback(delivered, "ava@example.com", "q-ava-fb-3", "favors:ava@example.com"),
                _feedback(opened, "ava@example.com", "q-ava-fb-4", "welcome:ava@example.com"),
                _feedback(
                    bounced,
                    "bea@example.com",
                    "q-bea-fb-3",
                    "welcome:bea@example.com",
                    properties={"bounce_type": "soft"},
                ),
                _feedback(delivered, "cai@example.com", "q-cai-fb-3", "favors:cai@example.com"),
                _feedback(  # the same message, one by one after the quiet report
                    bounced,
                    "cai@example.com",
                    "m-cai-fb-2",
                    "favors:cai@example.com",
                    properties={"hard": True},
                ),
                event(view, email="cai@example.com", id="cai-3"),
            ],
        ),
    ]


# Quiet whatever the chunks are; never quiet; the others depend on what shares their chunk.
QUIET = {
    "q-ava-1", "q-ava-2", "q-bea-1", "q-bea-2", "q-dana-2", "q-eve-2", "q-dana-5", "q-ava-5",
    "q-ava-fb-1", "q-ava-fb-2", "q-bea-fb-1", "q-bea-fb-2", "q-eve-fb-1", "q-dana-fb-1",
    "q-ava-fb-3", "q-ava-fb-4", "q-bea-fb-3", "q-cai-fb-3",
}  # fmt: skip
NEVER = {
    "s-ava", "s-bea", "s-cai", "v-dana-1", "v-eve-1", "m-cai-1", "m-ava-3", "m-dana-3",
    "m-nobody", "m-ava-4", "m-dana-4", "m-bea-3", "m-eve-3", "m-cai-fb-2",
}  # fmt: skip


def _play(runtime: Runtime, clock: FakeClock, story: Story) -> None:
    for seconds, bodies in story:
        clock.advance(seconds=seconds)
        requests = [[EventIn.model_validate(_named(runtime, body))] for body in bodies]
        inbox.store_requests(runtime.db, requests, now=clock.now())
        inbox.drain(runtime, limit=1000, rounds=50)
        asyncio.run(Scheduler(runtime).dispatcher.send_due(clock.now()))


def _named(runtime: Runtime, body: dict[str, Any]) -> dict[str, Any]:
    """The body with a `stage:email` message reference replaced by that message's id."""
    stage, _, email = str(body["properties"].get("message_id", "")).partition(":")
    if not email:
        return body
    (contact,) = stored(runtime, Contact, email=email)
    (message,) = stored(runtime, Message, contact_id=contact.id, stage=stage)
    return {**body, "properties": {**body["properties"], "message_id": message.id}}


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A signed link in a message sent: what it says, since its signature covers random ids.
TOKEN = re.compile(r"(eyJ[A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+")
# What names a row of each table whose random ids other rows hold, in an order where a
# name only needs the names before it.
NAMES = {
    "contacts": ("email", "phone", "external_id"),
    "enrollments": ("contact_id", "journey_id", "started_at"),
    "events": ("source", "event_id"),
    "messages": ("idempotency_key",),
}
KEPT = {"journey_catalog", "journey_versions"}  # the published journeys, not the story's


def _snapshot(runtime: Runtime) -> dict[str, list[str]]:
    """Every table's rows, random ids replaced by what names their rows, so two runs
    compare."""
    labels: dict[str, str] = {}

    def named(value: Any) -> str:
        said = TOKEN.sub(lambda found: _payload(found[1]), repr(value))
        return UUID.sub(lambda found: labels.get(found[0], found[0]), said)

    tables = {table.name: table for table in SQLModel.metadata.sorted_tables}
    with runtime.db.session() as session:
        for name, columns in NAMES.items():
            for row in session.execute(select(tables[name])).mappings():
                labels[row["id"]] = f"{name}:" + named([row[column] for column in columns])
        return {
            name: sorted(
                named(sorted((k, v) for k, v in row.items() if k != "id"))
                for row in session.execute(select(table)).mappings()
            )
            for name, table in tables.items()
        }


def _payload(token: str) -> str:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()


def _empty(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if table.name not in KEPT:
                session.execute(delete(table))


@pytest.fixture
def story_runtime(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    with open_runtime(make_settings(database_url, tmp_path), clock) as runtime:
        yield runtime


def test_quiet_events_leave_every_table_as_one_by_one_does(
    story_runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, start = story_runtime, clock.now()
    with monkeypatch.context() as patched:
        patched.setattr(inbox, "record_quiet", lambda *args, **kwargs: set())
        _play(runtime, clock, _story())
    one_by_one = _snapshot(runtime)
    assert len(stored(runtime, Event)) == 36  # m-nobody is refused

    _empty(runtime)
    clock.current = start
    quiet_ids: list[str] = []
    original = inbox.record_quiet

    def recording(journeys: Any, session: Any, rows: Any, **kwargs: Any) -> set[int]:
        done = original(journeys, session, rows, **kwargs)
        quiet_ids.extend(row.event_id for row in rows if row.id in done)
        return done

    monkeypatch.setattr(inbox, "record_quiet", recording)
    _play(runtime, clock, _story())
    assert set(quiet_ids) >= QUIET and not set(quiet_ids) & NEVER
    assert _snapshot(runtime) == one_by_one


def test_a_defect_deciding_quietness_leaves_the_chunk_to_the_one_path(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _play(runtime, clock, _story()[:1])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a defect")

    monkeypatch.setattr(quiet, "decide_entry", broken)
    _play(runtime, clock, [_story()[1]])
    second = {body["id"] for body in _story()[1][1]}
    assert {e.event_id for e in stored(runtime, Event)} >= second - {"m-nobody"}
    quiet_rows = [row for row in stored(runtime, InboxEvent) if row.event_id.startswith("q-")]
    assert quiet_rows and all(row.error is None and row.applied_at for row in quiet_rows)


def test_her_events_behind_one_applied_one_by_one_wait_whatever_their_lane(
    runtime: Runtime, clock: FakeClock
) -> None:
    _play(runtime, clock, _story()[:1])
    (cai,) = stored(runtime, Contact, email="cai@example.com")
    ingest(runtime, event("email.opened", email="bea@example.com", id="synced"))
    bodies = [
        event("email.clicked", email="cai@example.com", id="move", properties={"link": "favors"}),
        event("web.page_viewed", contact={"id": cai.id}, id="behind"),  # another lane
        event("web.page_viewed", email="bea@example.com", id="free"),
        event("email.opened", email="bea@example.com", id="synced"),  # received already
    ]
    inbox.store_requests(runtime.db, [[EventIn.model_validate(b) for b in bodies]], now=clock.now())
    with runtime.db.write() as session:
        rows = enrollments_repo.claim_inbox(session, limit=10)
        done = quiet.record_quiet(runtime.journeys, session, rows, now=clock.now())
    assert {row.event_id for row in rows if row.id in done} == {"free", "synced"}
    (duplicate,) = stored(runtime, InboxEvent, event_id="synced")
    assert duplicate.result is not None and duplicate.result["status"] == "duplicate"
    assert duplicate.body == {} and duplicate.applied_at == clock.now()
    (free,) = stored(runtime, Event, event_id="free")
    assert free.contact_id == stored(runtime, Contact, email="bea@example.com")[0].id
    assert inbox.drain(runtime, limit=10, rounds=5) == 2  # the rest, one by one
    (moved,) = stored(runtime, InboxEvent, event_id="move")
    assert moved.result is not None and moved.result["moved"][0]["to"] == "favors"


def test_chunks_grow_while_quiet_and_keep_their_size_across_batches(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _play(runtime, clock, _story()[:1])
    views = [event("web.page_viewed", email="dana@example.com", id=f"view-{n}") for n in range(80)]
    inbox.store_requests(runtime.db, [[EventIn.model_validate(v) for v in views]], now=clock.now())
    claims: list[int] = []
    original = enrollments_repo.claim_inbox

    def counting(session: Any, *, limit: int, **kwargs: Any) -> Any:
        claims.append(limit)
        return original(session, limit=limit, **kwargs)

    monkeypatch.setattr(enrollments_repo, "claim_inbox", counting)
    chunk = inbox.ChunkSize()
    assert inbox.apply_pending(runtime, limit=5, chunk=chunk) == 5
    assert chunk.rows == 50  # every event of the chunk was quiet
    assert inbox.apply_pending(runtime, limit=100, budget=60, chunk=chunk) == 75
    assert claims == [5, 50, 50, 25]  # the second batch started at the size the first reached
    enrols = EventIn.model_validate(signup("fay@example.com", id="s-fay"))
    inbox.store_requests(runtime.db, [[enrols]], now=clock.now())
    assert inbox.apply_pending(runtime, limit=100, budget=60, chunk=chunk) == 1
    assert chunk.rows == inbox.CLAIM_ROWS  # a chunk with an event applied one by one


def test_a_chunks_feedback_writes_its_messages_with_one_statement(
    runtime: Runtime, clock: FakeClock
) -> None:
    emails = ["ava@example.com", "bea@example.com", "cai@example.com"]
    _play(runtime, clock, [(0, [signup(email, id=f"s-{email}") for email in emails])])
    clock.advance(seconds=1)
    bodies = [
        _feedback(kind, email, f"{kind}-{email}", f"welcome:{email}")
        for kind in ("email.delivered", "email.opened")
        for email in emails
    ]
    requests = [[EventIn.model_validate(_named(runtime, body)) for body in bodies]]
    inbox.store_requests(runtime.db, requests, now=clock.now())
    updates: list[str] = []

    def seen(*args: Any) -> None:
        if args[2].startswith("UPDATE messages"):
            updates.append(args[2])

    sqlalchemy_event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        with runtime.db.write() as session:
            rows = enrollments_repo.claim_inbox(session, limit=10)
            done = quiet.record_quiet(runtime.journeys, session, rows, now=clock.now())
    finally:
        sqlalchemy_event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert len(done) == len(bodies) and len(updates) == 1
    welcomes = stored(runtime, Message, stage="welcome")
    assert {m.delivery_status for m in welcomes} == {"opened"}
    assert all(m.delivered_at == m.opened_at == clock.now() for m in welcomes)


def _one_chunk_both_ways(
    runtime: Runtime,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[Runtime], list[dict[str, Any]]],
) -> None:
    """Events `prepare` gives (after storing what they need) applied in one chunk, one by
    one and then with quiet events taken out first: every table ends the same."""
    start, snapshots = clock.now(), []
    for quiet_too in (False, True):
        clock.current = start
        bodies = prepare(runtime)
        requests = [[EventIn.model_validate(body) for body in bodies]]
        inbox.store_requests(runtime.db, requests, now=clock.now())
        with monkeypatch.context() as patched:
            if not quiet_too:
                patched.setattr(inbox, "record_quiet", lambda *args, **kwargs: set())
            chunk = inbox.ChunkSize(rows=len(bodies))  # all in one chunk
            assert inbox.apply_pending(runtime, limit=100, budget=60, chunk=chunk) == len(bodies)
        snapshots.append(_snapshot(runtime))
        _empty(runtime)
    assert snapshots[0] == snapshots[1]


def test_an_identifier_an_earlier_event_gives_her_is_not_read_from_before_it(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def prepare(rt: Runtime) -> list[dict[str, Any]]:
        view = "web.page_viewed"
        ingest(rt, event(view, contact={"phone": "+15555550100"}, id="a"))
        ingest(rt, event(view, contact={"email": "c@example.com", "phone": "+15555550111"}, id="c"))
        (ada,) = stored(rt, Contact, phone="+15555550100")
        return [
            event(view, contact={"id": ada.id, "email": "e@example.com"}, id="gives-e"),
            event(view, contact={"email": "e@example.com", "phone": "+15555550111"}, id="r2"),
            event(view, contact={"external_id": "new-1", "email": "f@example.com"}, id="new"),
            event(view, contact={"email": "f@example.com"}, id="r4"),
        ]

    _one_chunk_both_ways(runtime, clock, monkeypatch, prepare)


def test_her_events_wait_behind_one_held_only_by_its_lane(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def prepare(rt: Runtime) -> list[dict[str, Any]]:
        cai = {"email": "cai@example.com", "phone": "+15555550122"}
        ingest(rt, event("email.opened", contact=cai, id="used"))
        return [
            event("web.page_viewed", email="cai@example.com", id="used"),  # a clash
            signup("cai@example.com", id="s-cai"),  # behind it in her lane
            event(
                "email.clicked",
                contact={"phone": "+15555550122"},
                id="click",
                properties={"link": "favors"},
            ),  # her move, in another lane
        ]

    _one_chunk_both_ways(runtime, clock, monkeypatch, prepare)


def test_a_defect_storing_quiet_events_undoes_them_and_leaves_them_to_the_one_path(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _play(runtime, clock, _story()[:1])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a defect")

    monkeypatch.setattr(quiet.enrollments_repo, "mark_applied", broken)  # after the insert
    _play(runtime, clock, [_story()[1]])
    second = {body["id"] for body in _story()[1][1]}
    recorded = [e.event_id for e in stored(runtime, Event) if e.event_id in second]
    assert sorted(recorded) == sorted(second - {"m-nobody"})  # each once, by the one path
    rows = [row for row in stored(runtime, InboxEvent) if row.event_id.startswith("q-")]
    assert rows and all(row.error is None and row.applied_at for row in rows)
