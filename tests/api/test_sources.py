"""Event identity: `nurture.*` sources belong to nurture, and an id names one event only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api import signing
from tests.factories import Harness, event, signup


async def _sent_welcome(app: Harness) -> dict[str, Any]:
    await app.post_events(signup())
    assert (await app.run_scheduler()).sent == 1
    line: dict[str, Any] = json.loads(app.outbox_lines()[0])
    return line


def _path(url: str) -> str:
    return url.removeprefix(signing.BASE_URL)


async def _events(app: Harness) -> list[dict[str, Any]]:
    contact = await app.contact()
    timeline = (await app.client.get(f"/contacts/{contact['id']}/timeline")).json()
    return [t for t in timeline if t["kind"] == "event"]


@pytest.mark.parametrize("source", ["nurture.links", "nurture", "Nurture.Links", "nurture.x"])
async def test_reserved_sources_are_refused_over_post_events(harness: Harness, source: str) -> None:
    response = await harness.post_events(signup(), event("web.page_viewed", source=source))
    assert response.status_code == 422, response.text
    assert [d["field"] for d in response.json()["detail"]] == ["events.1.source"]
    assert "reserved" in response.json()["detail"][0]["message"]
    assert (
        await harness.client.get("/contacts", params={"email": "ava@example.com"})
    ).status_code == 404


async def test_sources_that_only_start_alike_are_fine(harness: Harness) -> None:
    response = await harness.post_events(event("web.page_viewed", source="nurtureshop"))
    assert response.status_code == 200, response.text


async def test_a_forged_unsubscribe_cannot_swallow_the_real_one(hooks: Harness) -> None:
    welcome = await _sent_welcome(hooks)
    forged = event("email.clicked", id=f"unsubscribe:{welcome['id']}", source="nurture.links")
    assert (await hooks.post_events(forged)).status_code == 422
    body = json.dumps(forged).encode()
    headers = signing.standard(body, hooks.clock.now(), msg_id="forged-1")
    webhook = await hooks.client.post("/webhooks/standard", content=body, headers=headers)
    assert webhook.status_code == 200  # acknowledged, so the sender does not retry
    track = await hooks.client.post(
        "/track",
        json={
            "key": "pk_test_shop",
            "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "type": "web.page_viewed",
            "source": "nurture.links",
            "email": "ava@example.com",
        },
    )
    assert track.status_code == 422
    assert [e["data"]["source"] for e in await _events(hooks)] == ["test"]
    page = await hooks.client.post(_path(welcome["unsubscribe_url"]))
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    await hooks.apply_inbox()
    [consent] = (await hooks.contact())["consents"]
    assert (consent["channel"], consent["status"]) == ("email", "withdrawn")
    types = [(e["data"]["source"], e["summary"]) for e in await _events(hooks)]
    assert types == [("test", "web.form_submitted"), ("nurture.links", "email.unsubscribed")]


async def test_an_id_reused_with_another_type_is_a_conflict(harness: Harness) -> None:
    first = await harness.post_events(signup(id="evt-a"))
    assert first.status_code == 200
    again = await harness.post_events(signup(id="evt-a"))
    assert again.json()["status"] == "duplicate"
    clash = await harness.post_events(event("email.unsubscribed", id="evt-a"))
    assert clash.status_code == 409, clash.text
    assert clash.json()["error"] == "conflict"
    assert "evt-a" in clash.json()["detail"]
    other_source = await harness.post_events(event("email.unsubscribed", id="evt-a", source="x"))
    assert other_source.status_code == 200
    events = [(e["data"]["source"], e["summary"]) for e in await _events(harness)]
    assert events == [("test", "web.form_submitted"), ("x", "email.unsubscribed")]


async def test_a_conflicting_batch_stores_nothing(harness: Harness) -> None:
    await harness.post_events(event("web.page_viewed", id="evt-b"))
    batch = [signup("bea@example.com"), event("web.form_submitted", id="evt-b")]
    response = await harness.post_events(*batch)
    assert response.status_code == 409
    missing = await harness.client.get("/contacts", params={"email": "bea@example.com"})
    assert missing.status_code == 404
    inside = [event("web.page_viewed", id="evt-c"), event("web.form_submitted", id="evt-c")]
    assert (await harness.post_events(*inside)).status_code == 409
    same = [event("web.page_viewed", id="evt-d"), event("web.page_viewed", id="evt-d")]
    statuses = [r["status"] for r in (await harness.post_events(*same)).json()["results"]]
    assert statuses == ["accepted", "duplicate"]


async def test_a_conflicting_webhook_event_is_skipped_not_retried(hooks: Harness) -> None:
    await hooks.post_events(signup(id="std-1", source="shop"))
    items = [
        event("email.clicked", id="std-1", source="shop"),
        event("web.page_viewed", id="std-2", source="shop"),
    ]
    body = json.dumps({"events": items}).encode()
    headers = signing.standard(body, hooks.clock.now(), msg_id="conflict-1")
    response = await hooks.client.post("/webhooks/standard", content=body, headers=headers)
    await hooks.apply_inbox()
    assert response.status_code == 200
    events = [(e["data"]["id"], e["summary"]) for e in await _events(hooks)]
    assert events == [("std-1", "web.form_submitted"), ("std-2", "web.page_viewed")]
