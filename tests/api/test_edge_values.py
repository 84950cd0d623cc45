"""Values no database or answer can hold are refused at the edge, with a 4xx naming the
field, on SQLite and PostgreSQL alike; a batch is all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine

from service.schemas import MAX_ATTRIBUTES, MAX_JSON_BYTES, MAX_JSON_ITEMS, MAX_PROPERTIES_DEPTH
from service.store.models import Event
from tests.api import signing
from tests.factories import START, Harness, event, signup
from tests.webhooks.support import fixture_json

FULL_WIDTH_PHONE = "+" + "".join(chr(0xFF10 + int(d)) for d in "15555550100")


def _fields(response: Any) -> list[str]:
    return [d["field"] for d in response.json()["detail"]]


def _nested(depth: int) -> dict[str, Any]:
    """Properties `depth` levels deep, the properties object itself being the first."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def _post_raw(harness: Harness, text: str) -> Any:
    return await harness.client.post(
        "/events", content=text.encode(), headers={"content-type": "application/json"}
    )


async def _nobody(harness: Harness, email: str = "ava@example.com") -> None:
    response = await harness.client.get("/contacts", params={"email": email})
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "America"}, "events.0.timezone"),
        ({"timezone": "Europe"}, "events.0.timezone"),
        ({"timezone": "A" * 300}, "events.0.timezone"),
        ({"timezone": "America/" + "x" * 300}, "events.0.timezone"),
        ({"time": "0001-01-01T00:00:00+01:00"}, "events.0.time"),
        ({"time": "9999-12-31T23:00:00-05:00"}, "events.0.time"),
        ({"id": "evt\x00nul"}, "events.0.id"),
        ({"source": "shop\x00"}, "events.0.source"),
        ({"contact": {"email": "ava\x00@example.com"}}, "events.0.contact.email"),
        ({"contact": {"external_id": "cust\x00-1"}}, "events.0.contact.external_id"),
        ({"persona": "bride\x00"}, "events.0.persona"),
        ({"properties": {"form": "wedding\x00signup"}}, "events.0.properties.form"),
        ({"properties": {"k\x00ey": "x"}}, "events.0.properties"),
        ({"attributes": {"first_name": "A\x00va"}}, "events.0.attributes.first_name"),
        ({"type": "web.page_viewed\n"}, "events.0.type"),
    ],
)
async def test_values_no_database_stores_alike_are_refused(
    harness: Harness, change: dict[str, Any], field: str
) -> None:
    response = await harness.post_events({**signup(), **change})
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]
    await _nobody(harness)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"attributes": {"score": NaN}', "events.0.attributes.score"),
        ('"attributes": {"score": Infinity}', "events.0.attributes.score"),
        ('"attributes": {"score": -Infinity}', "events.0.attributes.score"),
        ('"properties": {"total": 1e400}', "events.0.properties.total"),
        ('"properties": {"items": [1, {"price": NaN}]}', "events.0.properties.items.1.price"),
        ('"properties": {"note": "\\ud800"}', "events.0.properties.note"),
    ],
)
async def test_numbers_and_text_json_cannot_carry_are_refused(
    harness: Harness, raw: str, field: str
) -> None:
    body = json.dumps(
        {
            "id": "e1",
            "type": "web.page_viewed",
            "source": "t",
            "contact": {"email": "ava@example.com"},
        }
    )
    response = await _post_raw(harness, body[:-1] + ", " + raw + "}")
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]
    assert "NaN" in response.json()["detail"][0]["message"] or "Unicode" in response.text
    await _nobody(harness)


async def test_a_bad_timezone_in_attributes_is_refused(harness: Harness) -> None:
    response = await harness.post_events(signup(attributes={"timezone": "America"}))
    assert response.status_code == 422
    await _nobody(harness)


async def test_far_times_that_fit_in_utc_are_kept(harness: Harness) -> None:
    late = await harness.post_events(event("web.page_viewed", time="9999-12-31T23:59:59Z"))
    early = await harness.post_events(event("web.page_viewed", time="0001-01-01T00:00:00Z"))
    assert (late.status_code, early.status_code) == (200, 200), late.text + early.text
    contact = await harness.contact()
    timeline = (await harness.client.get(f"/contacts/{contact['id']}/timeline")).json()
    assert [t["at"][:4] for t in timeline] == ["0001", "9999"]


async def test_properties_nesting_is_capped(harness: Harness) -> None:
    fits = await harness.post_events(
        event("web.page_viewed", properties=_nested(MAX_PROPERTIES_DEPTH))
    )
    assert fits.status_code == 200, fits.text
    deep = await harness.post_events(
        event("web.page_viewed", email="bea@example.com", properties=_nested(255))
    )
    assert deep.status_code == 422
    [problem] = deep.json()["detail"]
    assert problem["field"].startswith("events.0.properties.a.a.a")
    assert f"deeper than {MAX_PROPERTIES_DEPTH} levels" in problem["message"]
    await _nobody(harness, "bea@example.com")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"properties": {"items": list(range(MAX_JSON_ITEMS + 1))}}, "keys and items"),
        ({"properties": {f"k{i}": i for i in range(MAX_JSON_ITEMS + 1)}}, "keys and items"),
        ({"properties": {"pad": "x" * MAX_JSON_BYTES}}, "bytes as JSON"),
        ({"attributes": {f"a{i}": i for i in range(MAX_ATTRIBUTES + 1)}}, "attributes"),
        ({"attributes": {f"a{i}": "x" * 1500 for i in range(50)}}, "bytes as JSON"),
    ],
)
async def test_properties_and_attributes_sizes_are_capped(
    harness: Harness, change: dict[str, Any], words: str
) -> None:
    response = await harness.post_events({**event("web.page_viewed"), **change})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["field"] in ("events.0.properties", "events.0.attributes")
    assert words in problem["message"]
    await _nobody(harness)


async def test_a_contact_with_deep_stored_history_still_has_a_timeline(
    harness: Harness, database_url: str
) -> None:
    await harness.post_events(signup())
    contact = await harness.contact()
    # History written before properties were capped: 255 levels deep and a lone surrogate.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            Event.__table__.insert().values(  # type: ignore[attr-defined]
                id="old-deep",
                source="legacy",
                event_id="deep-1",
                type="web.page_viewed",
                time=START,
                contact_id=contact["id"],
                properties=_nested(255) | {"note": "x\ud800y"},
                received_at=START,
            )
        )
    engine.dispose()
    response = await harness.client.get(f"/contacts/{contact['id']}/timeline")
    assert response.status_code == 200, response.text
    [old] = [t for t in response.json() if t["data"].get("id") == "deep-1"]
    properties = old["data"]["properties"]
    assert properties["note"] == "x\ufffdy"
    level = properties
    for _ in range(MAX_PROPERTIES_DEPTH - 1):
        level = level["a"]
    assert level == {"a": "…"}  # cut where a new event would have been refused


async def test_a_batch_with_one_bad_event_stores_nothing(harness: Harness) -> None:
    events = [event("web.page_viewed", email=f"c{i}@example.com") for i in range(1000)]
    events[499]["attributes"] = {"score": "PLACEHOLDER"}
    body = json.dumps({"events": events}).replace('"PLACEHOLDER"', "NaN")
    response = await _post_raw(harness, body)
    assert response.status_code == 422, response.text
    assert _fields(response) == ["events.499.attributes.score"]
    for email in ("c0@example.com", "c498@example.com", "c999@example.com"):
        await _nobody(harness, email)
    events[499]["attributes"] = {"score": 1}
    events[499]["time"] = "0001-01-01T00:00:00+01:00"
    response = await harness.client.post("/events", json={"events": events})
    assert response.status_code == 422
    assert _fields(response) == ["events.499.time"]
    await _nobody(harness, "c0@example.com")


async def test_a_webhook_delivery_keeps_its_good_events(hooks: Harness) -> None:
    good = [event("web.page_viewed", id=f"ok-{n}", email=f"ok{n}@example.com") for n in range(3)]
    bad = [
        event("web.page_viewed", id="b1", email="b1@example.com", time="9999-12-31T23:00:00-05:00"),
        {"type": "web.page_viewed", "contact": {"email": "b2@example.com"}},  # no id
        event("web.page_viewed", id="b3", email="b3@example.com", properties=_nested(40)),
        event("web.page_viewed", id="b4", contact={"email": "b4\x00@example.com"}),
        event("web.page_viewed", id="b5", contact={"phone": FULL_WIDTH_PHONE}),
        event("web.page_viewed", id="b6", contact={"phone": "+15555550100\n"}),
        event("web.page_viewed", id="b7", email="b7@example.com", source="nurture.links"),
        event("web.page_viewed", id="b8", email="b8@example.com", attributes={"s": "NAN"}),
    ]
    items = [good[0], *bad[:4], good[1], *bad[4:], good[2]]
    body = json.dumps({"events": items}).replace('"NAN"', "NaN").encode()
    headers = signing.standard(body, hooks.clock.now(), msg_id="mixed-1")
    response = await hooks.client.post("/webhooks/standard", content=body, headers=headers)
    await hooks.apply_inbox()
    assert response.status_code == 200, response.text
    for n in range(3):
        assert (await hooks.contact(f"ok{n}@example.com"))["id"]
    for n in (1, 2, 3, 7, 8):
        await _nobody(hooks, f"b{n}@example.com")
    phones = [
        await hooks.client.get("/contacts", params={"phone": "+15555550100"}),
        await hooks.client.get("/contacts", params={"phone": FULL_WIDTH_PHONE}),
    ]
    assert [r.status_code for r in phones] == [404, 422]


async def test_lookups_and_paths_are_checked_like_bodies(harness: Harness) -> None:
    cases = [
        ("/contacts?email=ava%00@example.com", "query.email"),
        ("/contacts?email=not-an-address", "query.email"),
        ("/contacts?phone=%2B15555550100%0A", "query.phone"),
        ("/contacts?external_id=cust%001", "query.external_id"),
        ("/contacts/abc%00def", "path.contact_id"),
        ("/contacts/" + "x" * 37, "path.contact_id"),
        ("/journeys/wedding%00story", "path.journey_id"),
    ]
    for url, field in cases:
        response = await harness.client.get(url)
        assert response.status_code == 422, (url, response.text)
        assert _fields(response) == [field], url


async def test_messages_name_the_value(harness: Harness) -> None:
    response = await harness.post_events(signup(attributes={"bad key": 1, "first_name": "Ava"}))
    [problem] = response.json()["detail"]
    assert problem["message"] == "attribute name 'bad key' must be letters, digits and '_' (max 64)"
    nested = await harness.post_events(signup(attributes={"wedding": {"date": "x"}}))
    assert nested.json()["detail"][0]["message"] == (
        "attribute 'wedding' must be a string, number, boolean or null"
    )
    zone = await harness.post_events({**signup(), "timezone": "Mars/Olympus"})
    assert zone.json()["detail"][0]["message"] == "unknown IANA timezone 'Mars/Olympus'"
    assert "!r" not in response.text + nested.text + zone.text


@pytest.mark.parametrize(
    ("phone", "from_twilio"),
    [(FULL_WIDTH_PHONE, 404), ("+1555\u0665550100", 404), ("+15555550100\n", 200)],
)
async def test_one_phone_check_on_every_way_in(
    hooks: Harness, phone: str, from_twilio: int
) -> None:
    upsert = await hooks.client.post("/contacts", json={"phone": phone})
    assert (upsert.status_code, _fields(upsert)) == (422, ["phone"])
    posted = await hooks.post_events(event("web.page_viewed", contact={"phone": phone}))
    assert (posted.status_code, _fields(posted)) == (422, ["events.0.contact.phone"])
    lookup = await hooks.client.get("/contacts", params={"phone": phone})
    assert (lookup.status_code, _fields(lookup)) == (422, ["query.phone"])
    sms = signing.twilio_form("sms_inbound", Body="STOP", From=phone, MessageSid="SM-odd")
    signed = signing.twilio("/webhooks/twilio", sms)
    inbound = await hooks.client.post("/webhooks/twilio", content=sms, headers=signed)
    await hooks.apply_inbox()
    assert inbound.status_code == 200  # acknowledged either way: a retry would not help
    # Twilio's adapter drops formatting (spaces, newlines) but never reads non-ASCII digits.
    found = await hooks.client.get("/contacts", params={"phone": "+15555550100"})
    assert found.status_code == from_twilio


@pytest.mark.parametrize("duration", ["NaN", "Infinity", "1e400"])
async def test_a_call_duration_json_cannot_hold_is_dropped(hooks: Harness, duration: str) -> None:
    call = fixture_json("callcenter/disposition.json") | {"duration_seconds": "DURATION"}
    body = json.dumps(call).replace('"DURATION"', duration).encode()
    headers = signing.standard(
        body, hooks.clock.now(), msg_id="call-1", secret=signing.CALLCENTER_SECRET
    )
    response = await hooks.client.post("/webhooks/callcenter", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_stored_json_reads_back_as_sent(harness: Harness) -> None:
    properties = {
        "wide": 2**70,  # wider than 64 bits: kept exact
        "text": "Zoë \u2019s 💍 order",
        "nested": [{"a": [1, 2.5, None, True]}, {}],
        "negative": -(2**63),
    }
    sent = event("web.page_viewed", id="json-1", properties=properties)
    assert (await harness.post_events(sent)).status_code == 200
    contact = await harness.contact()
    response = await harness.client.get(f"/contacts/{contact['id']}/timeline")
    (viewed,) = [item for item in response.json() if item["kind"] == "event"]
    assert viewed["data"]["properties"] == properties
