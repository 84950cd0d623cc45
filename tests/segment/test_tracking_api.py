"""POST /v1/*: Segment calls mapped to events, attributes and links, over HTTP."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from typing import Any

from sqlmodel import select

from service.store.intake import AnonymousEvent, AnonymousId, InboxEvent
from service.store.models import Event
from tests.factories import Harness
from tests.segment.conftest import APP_KEY, ORIGIN, SHOP_KEY, basic

SOURCE = "segment:shop"


def iso(harness: Harness, **delta: float) -> str:
    return (harness.clock.now() + timedelta(**delta)).isoformat().replace("+00:00", "Z")


async def events_of(harness: Harness, contact_id: str) -> list[dict[str, Any]]:
    timeline = (await harness.client.get(f"/contacts/{contact_id}/timeline")).json()
    return [entry for entry in timeline if entry["kind"] == "event"]


async def by_user(harness: Harness, user_id: str) -> dict[str, Any]:
    response = await harness.client.get("/contacts", params={"external_id": user_id})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def table(harness: Harness, model: type[Any]) -> list[Any]:
    with harness.app.state.runtime.db.session() as session:
        return list(session.exec(select(model)).all())


async def test_each_call_type_maps_to_our_vocabulary(segment: Harness) -> None:
    calls = [
        ("track", {"event": "Added To Cart", "properties": {"sku": "k-1"}}),
        ("page", {"name": "Favors", "context": {"page": {"url": "https://shop.example/f"}}}),
        ("screen", {"name": "Home", "properties": {"tab": "new"}}),
        ("group", {"groupId": "acme", "traits": {"name": "Acme", "employees": 40}}),
        ("identify", {"traits": {"lastName": "Stone", "tags": ["a"], "company": {"name": "Acme"}}}),
    ]
    for index, (kind, body) in enumerate(calls):
        body = {"userId": "u-1", "messageId": f"m-{index}", **body}
        response = await segment.client.post(f"/v1/{kind}", json=body)
        await segment.apply_inbox()
        assert response.status_code == 200, response.text
        assert response.json() == {"success": True}
        segment.clock.advance(seconds=1)
    contact = await by_user(segment, "u-1")
    assert contact["attributes"] == {
        "group_id": "acme",
        "group_name": "Acme",
        "group_employees": 40,
        "last_name": "Stone",
        "company_name": "Acme",
    }
    seen = [
        (e["summary"], e["data"]["properties"]) for e in await events_of(segment, contact["id"])
    ]
    assert seen == [
        ("web.added_to_cart", {"sku": "k-1", "event": "Added To Cart"}),
        ("web.page_viewed", {"name": "Favors", "url": "https://shop.example/f"}),
        ("web.screen_viewed", {"tab": "new", "name": "Home"}),
        ("contact.updated", {"group_id": "acme"}),
        ("contact.updated", {}),
    ]


async def test_sent_at_corrects_the_senders_clock(segment: Harness) -> None:
    # The device's clock is an hour behind: it stamped the call 5 minutes before sending.
    body = {
        "batch": [
            {
                "type": "track",
                "userId": "u-1",
                "event": "Late",
                "messageId": "a",
                "timestamp": iso(segment, hours=-1, minutes=-5),
            },
            {
                "type": "track",
                "userId": "u-1",
                "event": "Ahead",
                "messageId": "b",
                "timestamp": iso(segment, hours=2),
            },
        ],
        "sentAt": iso(segment, hours=-1),
    }
    assert (await segment.client.post("/v1/batch", json=body)).status_code == 200
    await segment.apply_inbox()
    contact = await by_user(segment, "u-1")
    times = {e["summary"]: e["at"] for e in await events_of(segment, contact["id"])}
    assert times["web.late"] == iso(segment, minutes=-5)
    assert times["web.ahead"] == iso(segment)  # never later than its receipt


async def test_browser_style_write_key_in_the_body_and_short_paths(segment: Harness) -> None:
    body = json.dumps({"userId": "u-1", "event": "Viewed", "writeKey": APP_KEY, "messageId": "m"})
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN, "Authorization": ""}
    response = await segment.client.post("/v1/t", content=body, headers=headers)
    await segment.apply_inbox()
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    contact = await by_user(segment, "u-1")
    [event] = await events_of(segment, contact["id"])
    assert event["data"]["source"].startswith("segment:") and event["data"]["source"] != SOURCE

    preflight = await segment.client.options(
        "/v1/batch", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert "Content-Encoding" in preflight.headers["access-control-allow-headers"]
    other = await segment.client.post(
        "/v1/t", content=body, headers={**headers, "Origin": "https://evil.example"}
    )
    assert other.status_code == 403
    assert (
        await segment.client.post("/v1/b", json={"batch": [{**json.loads(body), "type": "track"}]})
    ).status_code == 200
    await segment.apply_inbox()


async def test_gzip_bodies_are_accepted(segment: Harness) -> None:
    body = gzip.compress(
        json.dumps({"batch": [{"type": "track", "userId": "u-1", "event": "Zipped"}]}).encode()
    )
    response = await segment.client.post(
        "/v1/batch", content=body, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 200, response.text
    await segment.apply_inbox()
    contact = await by_user(segment, "u-1")
    assert [e["summary"] for e in await events_of(segment, contact["id"])] == ["web.zipped"]


async def test_keys_are_checked_and_keep_to_their_routes(segment: Harness) -> None:
    track = {"userId": "u-1", "event": "Viewed"}
    cases = [
        ({"Authorization": ""}, track),  # nothing
        (basic("wk_nope"), track),
        ({"Authorization": "Bearer " + SHOP_KEY}, track),  # a write key is no bearer API key
        ({"Authorization": "Basic !!!"}, track),
        (basic(SHOP_KEY), {**track, "writeKey": APP_KEY}),  # two keys that disagree
        ({"Authorization": ""}, {**track, "writeKey": 42}),
    ]
    for headers, body in cases:
        response = await segment.client.post("/v1/track", json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["code"] == "unauthorized"
    assert table(segment, AnonymousEvent) == []
    assert (await segment.client.get("/contacts", params={"external_id": "u-1"})).status_code == 404


async def test_malformed_calls_refuse_the_whole_batch(segment: Harness) -> None:
    good = {"type": "track", "userId": "u-1", "event": "Fine", "messageId": "ok"}
    anonymous = {"type": "page", "anonymousId": "anon", "messageId": "anon-1"}
    cases = [
        (
            {"batch": [good, anonymous, {"type": "track", "userId": "u-2"}]},
            "batch.2: track needs an event name",
        ),
        ({"batch": [good, {"type": "page"}]}, "batch.1: page needs userId or anonymousId"),
        (
            {"batch": [good, {"type": "alias", "userId": "u"}]},
            "batch.1: alias needs userId and previousId",
        ),
        ({"batch": [good, {"type": "launch", "userId": "u"}]}, "batch.1.type"),
        ({"batch": [good, {**good, "timestamp": "yesterday"}]}, "batch.1.timestamp"),
        ({"batch": [good, {**good, "event": "!!!"}]}, "batch.1.event"),
        ({"batch": [good, {**good, "properties": ["x"]}]}, "batch.1.properties"),
        ({"batch": []}, "batch must be a non-empty list"),
        ({"batch": [good], "sentAt": "soon"}, "sentAt"),
        ({"batch": [good, {**good, "userId": "u" * 201}]}, "batch.1.userId"),
    ]
    for body, reason in cases:
        response = await segment.client.post("/v1/batch", json=body)
        assert response.status_code == 400, (body, response.text)
        assert reason in response.json()["message"], response.json()
    for raw in (b"{not json", b"[1, 2]", b'{"batch": [{"type": "track", "v": NaN}]}'):
        response = await segment.client.post("/v1/batch", content=raw)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
    response = await segment.client.post("/v1/identify", json={**good, "type": "track"})
    assert response.status_code == 400 and "posted to /v1/identify" in response.json()["message"]
    assert table(segment, AnonymousEvent) == []
    assert (await segment.client.get("/contacts", params={"external_id": "u-1"})).status_code == 404


async def test_size_limits(segment: Harness) -> None:
    big = {"userId": "u-1", "event": "Big", "properties": {"note": "x" * 33_000}}
    response = await segment.client.post("/v1/track", json=big)
    assert response.status_code == 400
    assert response.json()["code"] == "payload_too_large"
    response = await segment.client.post("/v1/batch", json={"batch": [{"type": "track", **big}]})
    assert response.status_code == 400 and "batch.0 is over 32 KB" in response.json()["message"]
    bomb = gzip.compress(b'{"batch": [' + b"1," * 400_000 + b"1]}")
    response = await segment.client.post(
        "/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400 and response.json()["code"] == "payload_too_large"
    for body, headers in (
        (b"\x1f\x8b not gzip", {"Content-Encoding": "gzip"}),
        (b"{}", {"Content-Encoding": "br"}),
    ):
        response = await segment.client.post("/v1/batch", content=body, headers=headers)
        assert response.status_code == 400 and response.json()["code"] == "invalid_request"
    assert (await segment.client.get("/contacts", params={"external_id": "u-1"})).status_code == 404


async def test_anonymous_pages_are_applied_in_order_once_identified(segment: Harness) -> None:
    anon = {"anonymousId": "anon-1"}
    pages = [  # arrive out of order: the pricing page was viewed after the start page
        {
            "type": "page",
            **anon,
            "messageId": "p-2",
            "properties": {"page": "pricing"},
            "timestamp": iso(segment, minutes=-5),
        },
        {
            "type": "page",
            **anon,
            "messageId": "p-1",
            "properties": {"page": "start"},
            "timestamp": iso(segment, minutes=-10),
        },
    ]
    assert (await segment.client.post("/v1/batch", json={"batch": pages})).status_code == 200
    await segment.apply_inbox()
    assert (await segment.client.post("/v1/batch", json={"batch": pages})).status_code == 200
    await segment.apply_inbox()
    assert sorted(e.event_id for e in table(segment, AnonymousEvent)) == ["p-1", "p-2"]

    identify = {**anon, "userId": "u-1", "traits": {"email": "ava@example.com"}, "messageId": "i-1"}
    assert (await segment.client.post("/v1/identify", json=identify)).status_code == 200
    await segment.apply_inbox()
    contact = await by_user(segment, "u-1")
    assert [(e["journey"], e["stage"]) for e in contact["enrollments"]] == [
        ("browse", "interested")
    ]
    assert table(segment, AnonymousEvent) == []
    segment.clock.advance(seconds=1)
    later = {"type": "page", **anon, "messageId": "p-3", "properties": {"page": "later"}}
    assert (await segment.client.post("/v1/page", json=later)).status_code == 200
    await segment.apply_inbox()
    pages_seen = [
        e["data"]["properties"].get("page") for e in await events_of(segment, contact["id"])
    ]
    assert pages_seen == ["start", "pricing", None, "later"]


async def test_calls_are_answered_before_they_apply_waiting_pages_after_the_identify(
    segment: Harness,
) -> None:
    anon = {"anonymousId": "visitor-1"}
    page = {**anon, "messageId": "p-1", "properties": {"page": "start"}}
    assert (await segment.client.post("/v1/page", json=page)).json() == {"success": True}
    identify = {**anon, "userId": "u-1", "traits": {"email": "ava@example.com"}, "messageId": "i-1"}
    response = await segment.client.post("/v1/identify", json=identify)
    assert (response.status_code, response.json()) == (200, {"success": True})
    pending = [
        (row.event_id, row.lane) for row in table(segment, InboxEvent) if row.applied_at is None
    ]
    assert pending == [("i-1", "external_id:u-1"), ("p-1", "external_id:u-1")]
    assert table(segment, AnonymousEvent) == []  # handed to the inbox, kept no longer
    assert table(segment, Event) == []
    assert await segment.apply_inbox() == 2
    contact = await by_user(segment, "u-1")
    assert [(e["journey"], e["stage"]) for e in contact["enrollments"]] == [("browse", "looking")]
    assert sorted(e.event_id for e in table(segment, Event)) == ["i-1", "p-1"]


async def test_an_anonymous_id_stays_with_the_first_contact(segment: Harness) -> None:
    for user in ("u-1", "u-2"):
        body = {"userId": user, "anonymousId": "shared-device", "messageId": f"i-{user}"}
        assert (await segment.client.post("/v1/identify", json=body)).status_code == 200
        await segment.apply_inbox()
    page = {"anonymousId": "shared-device", "messageId": "p", "properties": {"page": "x"}}
    assert (await segment.client.post("/v1/page", json=page)).status_code == 200
    await segment.apply_inbox()
    first, second = await by_user(segment, "u-1"), await by_user(segment, "u-2")
    assert "web.page_viewed" in [e["summary"] for e in await events_of(segment, first["id"])]
    assert "web.page_viewed" not in [e["summary"] for e in await events_of(segment, second["id"])]


async def test_alias_links_a_visitor_but_never_merges_two_users(segment: Harness) -> None:
    for user in ("u-1", "u-2"):
        track = {"userId": user, "event": "Seen", "messageId": f"t-{user}"}
        assert (await segment.client.post("/v1/track", json=track)).status_code == 200
        await segment.apply_inbox()
    alias = {"previousId": "u-1", "userId": "u-2", "messageId": "a-1"}
    assert (await segment.client.post("/v1/alias", json=alias)).status_code == 200
    await segment.apply_inbox()
    assert table(segment, AnonymousId) == []
    alias = {"previousId": "anon-9", "userId": "u-3", "messageId": "a-2"}
    assert (await segment.client.post("/v1/alias", json=alias)).status_code == 200
    await segment.apply_inbox()
    contact = await by_user(segment, "u-3")
    assert [(row.anonymous_id, row.contact_id) for row in table(segment, AnonymousId)] == [
        ("anon-9", contact["id"])
    ]
    assert (await segment.client.delete(f"/contacts/{contact['id']}")).status_code == 204
    assert table(segment, AnonymousId) == []  # erasure takes her anonymous ids along


async def test_waiting_events_expire(segment: Harness) -> None:
    old = {"anonymousId": "anon-1", "messageId": "old", "properties": {"page": "start"}}
    assert (await segment.client.post("/v1/page", json=old)).status_code == 200
    segment.clock.advance(days=31)
    new = {"anonymousId": "anon-2", "messageId": "new"}
    assert (await segment.client.post("/v1/page", json=new)).status_code == 200
    assert [e.event_id for e in table(segment, AnonymousEvent)] == ["new"]


async def test_traits_name_her_by_email_or_a_national_phone(segment: Harness) -> None:
    identify = {
        "anonymousId": "anon-1",
        "messageId": "i",
        "traits": {
            "email": " Ava@Example.COM ",
            "phone": "(555) 555-0100",
            "timezone": "Mars/Base",
        },
    }
    assert (await segment.client.post("/v1/identify", json=identify)).status_code == 200
    await segment.apply_inbox()
    contact = await segment.contact("ava@example.com")
    assert contact["phone"] == "+15555550100"
    assert contact["timezone"] is None  # an unknown zone is left out, the call still counts
    bad = {"anonymousId": "anon-2", "messageId": "j", "traits": {"email": "nope", "phone": "12"}}
    assert (await segment.client.post("/v1/identify", json=bad)).status_code == 200
    await segment.apply_inbox()
    assert [e.anonymous_id for e in table(segment, AnonymousEvent)] == ["anon-2"]
