"""The wedding story end to end over HTTP: events in, timers, rendered messages out."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.factories import Harness, event, make_settings, running_app, signup


def _stages(contact: dict, journey: str = "wedding-story") -> list[tuple[str, str]]:
    return [(e["stage"], e["status"]) for e in contact["enrollments"] if e["journey"] == journey]


async def test_signup_click_order_and_timers(harness: Harness) -> None:
    response = await harness.post_events(signup())
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "accepted"
    assert result["enrolled"] == [
        {"journey": "wedding-story", "version": "1", "stage": "welcome", "status": "active"}
    ]
    assert result["moved"] == [
        {
            "journey": "wedding-story",
            "from": None,
            "to": "welcome",
            "trigger": "entry:web.form_submitted",
        }
    ]

    report = await harness.run_scheduler()
    assert report.sent == 1
    contact = await harness.contact()
    assert _stages(contact) == [("welcome", "active")]

    clicked = await harness.post_events(event("email.clicked", properties={"link": "favors"}))
    assert clicked.json()["moved"][0]["to"] == "favors"
    await harness.run_scheduler()

    bought = await harness.post_events(
        event("order.completed", properties={"categories": ["favors"]})
    )
    assert [m["to"] for m in bought.json()["moved"]] == ["thank_you"]
    await harness.run_scheduler()
    harness.clock.advance(seconds=2)
    report = await harness.run_scheduler()
    assert report.timers == 1

    contact = await harness.contact()
    assert _stages(contact) == [("done", "completed")]
    messages = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    assert [(m["stage"], m["channel"], m["status"]) for m in messages] == [
        ("welcome", "email", "sent"),
        ("favors", "email", "sent"),
        ("thank_you", "sms", "failed"),
    ]
    welcome = messages[0]
    assert welcome["subject"] == "Welcome, Ava!"
    assert "http://nurture.test/c/" in welcome["html"]
    assert "Kraft favor boxes" in messages[1]["text"]
    assert messages[2]["error"] == "the contact has no phone"

    lines = [json.loads(line) for line in harness.outbox_lines()]
    assert [(line["stage"], line["to"]) for line in lines] == [
        ("welcome", "ava@example.com"),
        ("favors", "ava@example.com"),
    ]

    timeline = (await harness.client.get(f"/contacts/{contact['id']}/timeline")).json()
    kinds = [entry["kind"] for entry in timeline]
    assert kinds.count("event") == 3 and kinds.count("transition") == 4
    assert kinds.count("message") == 3


async def test_timer_moves_without_a_click(harness: Harness) -> None:
    await harness.post_events(signup())
    harness.clock.advance(seconds=2)
    report = await harness.run_scheduler()
    assert (report.timers, report.sent) == (0, 1)
    harness.clock.advance(seconds=1)
    report = await harness.run_scheduler()
    assert (report.timers, report.sent) == (1, 1)
    contact = await harness.contact()
    assert _stages(contact) == [("favors", "active")]


async def test_real_interval_job_runs(database_url: str, tmp_path: Path) -> None:
    from service.clock import SystemClock

    settings = make_settings(database_url, tmp_path, run_scheduler=True, scheduler_interval=0.2)
    async with running_app(settings, SystemClock()) as app:  # type: ignore[arg-type]
        await app.post_events(signup())
        for _ in range(50):
            await asyncio.sleep(0.1)
            if len(app.outbox_lines()) >= 1:
                break
        assert len(app.outbox_lines()) == 1
        contact = await app.contact()
        messages = (await app.client.get(f"/contacts/{contact['id']}/messages")).json()
        assert messages[0]["status"] == "sent"
