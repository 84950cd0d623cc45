"""Bad input is refused with a 4xx naming the field, and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from service.schemas import MAX_BATCH
from tests.factories import Harness, event, signup


async def _nothing_stored(harness: Harness) -> None:
    response = await harness.client.get("/contacts", params={"email": "ava@example.com"})
    assert response.status_code == 404


def _fields(response: Any) -> list[str]:
    return [d["field"] for d in response.json()["detail"]]


async def test_malformed_json(harness: Harness) -> None:
    response = await harness.client.post(
        "/events", content=b'{"id": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert _fields(response) == ["body"]
    await _nothing_stored(harness)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "Clicked"}, "events.0.type"),
        ({"type": "emial.clicked"}, "events.0.type"),
        ({"type": "email.clickd"}, "events.0.type"),
        ({"contact": {}}, "events.0.contact"),
        ({"contact": {"phone": "555-1234"}}, "events.0.contact.phone"),
        ({"contact": {"email": "not-an-email"}}, "events.0.contact.email"),
        ({"time": "2026-03-01T10:00:00"}, "events.0.time"),
        ({"attributes": {"wedding": {"date": "x"}}}, "events.0.attributes"),
        ({"attributes": {"bad key": 1}}, "events.0.attributes"),
        ({"timezone": "Mars/Olympus"}, "events.0.timezone"),
        ({"attributes": {"timezone": "Nowhere/City"}}, "events.0"),
        ({"surprise": True}, "events.0.surprise"),
    ],
)
async def test_bad_event_fields(harness: Harness, change: dict[str, Any], field: str) -> None:
    body = {**signup(), **change}
    response = await harness.post_events(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"
    assert field in _fields(response)
    await _nothing_stored(harness)


async def test_unknown_event_type_names_what_is_known(harness: Harness) -> None:
    response = await harness.post_events(event("email.clickd"))
    [detail] = response.json()["detail"]
    assert detail["field"] == "events.0.type"
    assert "email events are email.sent, email.delivered" in detail["message"]
    custom = await harness.post_events(event("custom.loyalty_tier_changed"))
    assert custom.status_code == 200 and custom.json()["status"] == "accepted"


async def test_a_date_a_journey_waits_for_must_be_a_date(harness: Harness) -> None:
    bad = signup(attributes={"first_name": "Ava", "wedding_date": "18/09/2027"})
    response = await harness.post_events(signup("bea@example.com"), bad)
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["field"] == "events.1.attributes.wedding_date"
    assert "ISO 8601 date" in detail["message"]
    await _nothing_stored(harness)
    assert (
        await harness.client.get("/contacts", params={"email": "bea@example.com"})
    ).status_code == 404
    await harness.post_events(signup())
    ava = await harness.contact()
    patch = await harness.client.patch(
        f"/contacts/{ava['id']}", json={"attributes": {"wedding_date": "next June"}}
    )
    assert patch.status_code == 422
    assert _fields(patch) == ["attributes.wedding_date"]
    assert (await harness.contact())["attributes"]["wedding_date"] == "2026-06-20"
    unset = await harness.client.patch(
        f"/contacts/{ava['id']}", json={"attributes": {"wedding_date": None, "nickname": "x"}}
    )
    assert unset.status_code == 200  # removing it, or other attributes, is fine


async def test_a_bad_event_rejects_the_whole_batch(harness: Harness) -> None:
    response = await harness.post_events(signup(), event("NOPE"))
    assert response.status_code == 422
    assert _fields(response) == ["events.1.type"]
    await _nothing_stored(harness)


async def test_batch_limit(harness: Harness) -> None:
    events = [event("web.page_viewed", id=f"e{i}") for i in range(MAX_BATCH + 1)]
    response = await harness.client.post("/events", json={"events": events})
    assert response.status_code == 422
    assert _fields(response) == ["events"]
    await _nothing_stored(harness)


async def test_unknown_contact_id(harness: Harness) -> None:
    response = await harness.post_events(
        signup(), event("web.page_viewed", contact={"id": "no-such-contact"})
    )
    assert response.status_code == 422
    assert _fields(response) == ["events.1.contact.id"]
    await _nothing_stored(harness)


async def test_body_cap(harness: Harness) -> None:
    big = {"events": [event("web.page_viewed", properties={"pad": "x" * 2_000_000})]}
    response = await harness.client.post("/events", json=big)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_unhandled_error_hides_the_trace(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object) -> None:
        raise RuntimeError("secret-token-123")

    monkeypatch.setattr("service.enrollments.inbox.record_and_apply", explode)
    response = await harness.post_events(signup())
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "detail": "internal server error"}
    assert "secret" not in response.text


async def test_unknown_route_is_json(harness: Harness) -> None:
    response = await harness.client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
