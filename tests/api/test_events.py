"""POST /events: 202 once stored, decisions for a caller who waits, nothing stored if refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.runtime import Runtime
from service.store.intake import InboxEvent
from service.store.models import Contact, Event
from tests.factories import FakeClock, Harness, event, ingest, make_settings, running_app, signup
from tests.factories import stored as rows_of


def _runtime(harness: Harness) -> Runtime:
    runtime: Runtime = harness.app.state.runtime
    return runtime


async def test_accepted_then_applied_by_the_scheduler_pass(harness: Harness) -> None:
    response = await harness.client.post("/events", json=signup(id="a-1"))
    assert response.status_code == 202
    assert response.json() == {"id": "a-1", "source": "test", "status": "accepted"}
    assert rows_of(_runtime(harness), Contact) == []
    assert (await harness.run_scheduler()).applied == 1
    assert (await harness.contact())["email"] == "ava@example.com"


async def test_a_batch_is_answered_event_by_event(harness: Harness) -> None:
    first = event("web.page_viewed", id="b-1")
    batch = {"events": [first, event("web.page_viewed", id="b-2"), first]}
    response = await harness.client.post("/events", json=batch)
    assert response.status_code == 202
    assert [r["status"] for r in response.json()["results"]] == [
        "accepted",
        "accepted",
        "duplicate",
    ]
    again = await harness.client.post("/events", json=first)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert len(rows_of(_runtime(harness), InboxEvent)) == 2


async def test_waiting_answers_what_applying_decided(harness: Harness) -> None:
    waited = await harness.client.post("/events?wait=true", json=signup(id="w-1"))
    assert waited.status_code == 200
    direct = ingest(_runtime(harness), signup("bea@example.com", id="w-2"))
    body = waited.json()
    assert body["status"] == "accepted" and body["contact_id"]
    assert body["enrolled"] == [e.model_dump(mode="json") for e in direct.enrolled]
    assert body["moved"] == [m.model_dump(mode="json") for m in direct.moved]
    again = await harness.client.post(
        "/events", json=signup(id="w-1"), headers={"Prefer": "wait=5"}
    )
    assert again.status_code == 200
    assert again.json() == {
        "id": "w-1",
        "source": "test",
        "status": "duplicate",
        "contact_id": body["contact_id"],
        "moved": [],
        "enrolled": [],
    }


async def test_a_wait_that_runs_out_answers_202(harness: Harness) -> None:
    response = await harness.client.post(
        "/events", json=signup(id="z-1"), headers={"Prefer": "respond-async, wait=0"}
    )
    assert response.status_code == 202 and response.json()["status"] == "accepted"


async def test_refused_requests_store_nothing(harness: Harness) -> None:
    runtime = _runtime(harness)
    await harness.client.post("/events", json=event("email.opened", id="r-1"))
    reused = await harness.client.post(
        "/events",
        json={"events": [event("web.page_viewed", id="r-2"), event("email.clicked", id="r-1")]},
    )
    assert reused.status_code == 409 and reused.json()["error"] == "conflict"
    assert "events.1: event id 'r-1'" in reused.json()["detail"]
    unknown = await harness.client.post(
        "/events", json=event("web.page_viewed", contact={"id": "nobody"}, id="r-3")
    )
    assert unknown.status_code == 422, unknown.text
    assert [d["field"] for d in unknown.json()["detail"]] == ["events.0.contact.id"]
    bad_date = await harness.client.post(
        "/events", json=signup(id="r-4", attributes={"wedding_date": "18/09/2027"})
    )
    assert bad_date.status_code == 422, bad_date.text
    assert [d["field"] for d in bad_date.json()["detail"]] == ["events.0.attributes.wedding_date"]
    assert [row.event_id for row in rows_of(runtime, InboxEvent)] == ["r-1"]


async def test_concurrent_requests_each_stored_once(harness: Harness) -> None:
    bodies = [event("web.page_viewed", email=f"c{n}@example.com", id=f"c-{n}") for n in range(40)]
    clash = event("email.clicked", email="c0@example.com", id="c-0")
    answers = await asyncio.gather(
        *(harness.client.post("/events", json=body) for body in [*bodies, *bodies, clash])
    )
    statuses = [a.status_code for a in answers]
    assert statuses[:80] == [202] * 80 and statuses[80] == 409
    seen = [a.json()["status"] for a in answers[:80]]
    assert seen.count("accepted") == 40 and seen.count("duplicate") == 40
    assert (await harness.run_scheduler()).applied == 40
    assert len(rows_of(_runtime(harness), Event)) == 40


async def test_serve_applies_without_a_scheduler_pass(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path, run_scheduler=True, scheduler_interval=3600)
    async with running_app(settings, clock) as harness:
        assert (await harness.client.post("/events", json=signup(id="s-1"))).status_code == 202
        for _ in range(500):
            if rows_of(_runtime(harness), Contact):
                break
            await asyncio.sleep(0.01)
        assert [c.email for c in rows_of(_runtime(harness), Contact)] == ["ava@example.com"]


async def test_a_long_or_fractional_wait_is_cut_to_the_longest(harness: Harness) -> None:
    for prefer in ("wait=100000", "wait=2.5", "respond-async; wait=7"):
        response = await harness.client.post(
            "/events", json=event("web.page_viewed"), headers={"Prefer": prefer}
        )
        assert response.status_code == 200, prefer
