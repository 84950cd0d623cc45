"""Exactly-once effects: redelivery, concurrency, restarts, consent at send time, re-entry."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.factories import FakeClock, Harness, event, make_settings, running_app, signup


async def _history(harness: Harness, email: str) -> tuple[list[Any], list[Any]]:
    contact = await harness.contact(email)
    timeline = (await harness.client.get(f"/contacts/{contact['id']}/timeline")).json()
    moves = [
        (t["data"]["journey"], t["data"]["from"], t["data"]["to"], t["data"]["trigger"])
        for t in timeline
        if t["kind"] == "transition"
    ]
    messages = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    return moves, [(m["stage"], m["visit"], m["status"]) for m in messages]


async def test_duplicate_event_has_one_effect(harness: Harness) -> None:
    first = await harness.post_events(signup(id="same"))
    second = await harness.post_events(signup(id="same"))
    assert first.json()["status"] == "accepted"
    assert second.json()["status"] == "duplicate"
    assert second.json()["contact_id"] == first.json()["contact_id"]
    moves, messages = await _history(harness, "ava@example.com")
    assert len(moves) == 1 and len(messages) == 1


async def test_duplicate_inside_one_batch(harness: Harness) -> None:
    response = await harness.post_events(signup(id="a"), signup(id="a"))
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "duplicate"]


async def test_fifty_concurrent_events_match_one_ordered_delivery(harness: Harness) -> None:
    def burst(email: str) -> list[dict[str, Any]]:
        clicks = [
            event(
                "email.clicked", email=email, id=f"{email}-click-{i}", properties={"link": "favors"}
            )
            for i in range(25)
        ]
        views = [
            event("web.page_viewed", email=email, id=f"{email}-view-{i}", properties={"page": "x"})
            for i in range(20)
        ]
        repeats = [signup(email, id=f"{email}-signup") for _ in range(5)]
        return clicks + views + repeats

    for email in ("ordered@example.com", "burst@example.com"):
        await harness.post_events(signup(email, id=f"{email}-signup"))
    for body in burst("ordered@example.com"):
        assert (await harness.post_events(body)).status_code == 200
    responses = await asyncio.gather(
        *(harness.post_events(body) for body in burst("burst@example.com"))
    )
    assert all(r.status_code == 200 for r in responses)
    await harness.run_scheduler()
    assert await _history(harness, "burst@example.com") == await _history(
        harness, "ordered@example.com"
    )
    moves, messages = await _history(harness, "burst@example.com")
    assert [m[2] for m in moves] == ["welcome", "favors"]
    assert messages == [("welcome", 1, "canceled"), ("favors", 2, "sent")]


async def test_restart_loses_no_timer_or_message(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path)
    async with running_app(settings, clock) as first:
        await first.post_events(signup())
        await first.post_events(signup("bea@example.com"))
    clock.advance(seconds=1)
    async with running_app(settings, clock) as second:
        report = await second.run_scheduler()
        assert (report.timers, report.sent) == (0, 2)
    clock.advance(seconds=4)
    async with running_app(settings, clock) as second:
        report = await second.run_scheduler()
        assert (report.timers, report.sent) == (2, 2)
        contact = await second.contact("bea@example.com")
        assert contact["enrollments"][0]["stage"] == "favors"
    lines = [json.loads(line) for line in second.outbox_lines()]
    assert sorted((line["to"], line["stage"]) for line in lines) == [
        ("ava@example.com", "favors"),
        ("ava@example.com", "welcome"),
        ("bea@example.com", "favors"),
        ("bea@example.com", "welcome"),
    ]


async def test_consent_is_checked_at_send_time(harness: Harness) -> None:
    await harness.post_events(signup())
    await harness.post_events(
        event("email.bounced", properties={"bounce_type": "hard"}, source="esp")
    )
    report = await harness.run_scheduler()
    assert (report.sent, report.skipped) == (0, 1)
    contact = await harness.contact()
    assert contact["consents"][0]["suppressed"] is True
    messages = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    assert messages[0]["status"] == "suppressed"
    assert harness.outbox_lines() == []


async def test_sms_opt_out_and_back_in(harness: Harness) -> None:
    phone = {"phone": "+15555550100"}
    await harness.post_events(event("sms.opted_out", contact=phone))
    contact = (await harness.client.get("/contacts", params=phone)).json()
    assert [(c["channel"], c["status"]) for c in contact["consents"]] == [("sms", "withdrawn")]
    await harness.post_events(event("sms.opted_in", contact=phone))
    contact = (await harness.client.get("/contacts", params=phone)).json()
    assert contact["consents"][0]["status"] == "granted"


async def test_unsubscribe_exits_and_cancels_pending(harness: Harness) -> None:
    await harness.post_events(signup())
    response = await harness.post_events(event("email.unsubscribed"))
    assert response.json()["moved"][0]["trigger"] == "exit:email.unsubscribed"
    await harness.run_scheduler()
    contact = await harness.contact()
    assert contact["enrollments"][0]["status"] == "exited"
    assert contact["consents"][0]["status"] == "withdrawn"
    messages = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    assert messages[0]["status"] == "canceled"


async def test_goal_converts(harness: Harness) -> None:
    await harness.post_events(signup())
    response = await harness.post_events(
        event("order.completed", properties={"categories": ["thank-you-cards"]})
    )
    assert response.json()["moved"][0]["trigger"] == "goal:order.completed"
    contact = await harness.contact()
    assert contact["enrollments"][0]["status"] == "converted"


async def _enrollments(harness: Harness, journey: str) -> list[str]:
    contact = await harness.contact()
    return [e["status"] for e in contact["enrollments"] if e["journey"] == journey]


async def test_reenter_never(harness: Harness) -> None:
    await harness.post_events(signup())
    contact = await harness.contact()
    await harness.client.post(f"/contacts/{contact['id']}/enrollments/wedding-story/exit")
    response = await harness.post_events(signup())
    assert response.json()["enrolled"] == []
    assert await _enrollments(harness, "wedding-story") == ["exited"]


async def test_reenter_after_exit(harness: Harness) -> None:
    sale = {"page": "sale"}
    await harness.post_events(event("web.page_viewed", properties=sale))
    again = await harness.post_events(event("web.page_viewed", properties=sale))
    assert again.json()["enrolled"] == []
    contact = await harness.contact()
    exited = await harness.client.post(
        f"/contacts/{contact['id']}/enrollments/promo-after-exit/exit"
    )
    assert exited.status_code == 200
    harness.clock.advance(seconds=1)
    third = await harness.post_events(event("web.page_viewed", properties=sale))
    assert [e["journey"] for e in third.json()["enrolled"]] == ["promo-after-exit"]
    assert await _enrollments(harness, "promo-after-exit") == ["exited", "active"]


async def test_reenter_always_restarts(harness: Harness) -> None:
    promo = {"page": "promo"}
    await harness.post_events(event("web.page_viewed", properties=promo))
    harness.clock.advance(seconds=1)
    again = await harness.post_events(event("web.page_viewed", properties=promo))
    body = again.json()
    assert [e["journey"] for e in body["enrolled"]] == ["promo-always"]
    assert body["moved"][0]["trigger"] == "exit:restart"
    assert await _enrollments(harness, "promo-always") == ["restarted", "active"]


async def test_an_overdue_timer_fires_before_a_newer_event(harness: Harness) -> None:
    await harness.post_events(signup())
    harness.clock.advance(seconds=5)  # welcome's 3s timer is due, but no scheduler pass ran
    order = event("order.completed", properties={"categories": ["favors"]})
    moved = (await harness.post_events(order)).json()["moved"]
    assert [(m["from"], m["to"], m["trigger"]) for m in moved] == [
        ("welcome", "favors", "after:3s"),
        ("favors", "thank_you", "event:order.completed"),
    ]


async def test_an_event_reaches_the_contact_holding_any_of_its_identifiers(
    harness: Harness,
) -> None:
    await harness.post_events(signup())
    click = event(
        "email.clicked",
        contact={"external_id": "shop-42", "email": "ava@example.com"},
        properties={"link": "favors"},
    )
    result = (await harness.post_events(click)).json()
    ava = await harness.contact()
    assert result["contact_id"] == ava["id"]
    assert ava["external_id"] == "shop-42"  # the new identifier is now hers
    assert ava["enrollments"][0]["stage"] == "favors"
    lookup = await harness.client.get("/contacts", params={"external_id": "shop-42"})
    assert lookup.json()["id"] == ava["id"]


async def test_an_event_that_happened_before_the_timer_is_applied_first(harness: Harness) -> None:
    await harness.post_events(signup())
    signed_up = harness.clock.now()
    harness.clock.advance(seconds=5)  # the 3s timer is overdue when the order arrives...
    happened = (signed_up + timedelta(seconds=1)).isoformat()  # ...but the order came first
    order = event("order.completed", properties={"categories": ["favors"]}, time=happened)
    assert (await harness.post_events(order)).json()["moved"] == []  # welcome takes no orders
    await harness.run_scheduler()
    assert (await harness.contact())["enrollments"][0]["stage"] == "favors"
