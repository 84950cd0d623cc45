"""Segment's own Python SDK pointed at a live `nurture serve` with `host=`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from service.clock import SystemClock
from service.runtime import build_runtime
from tests.factories import apply_inbox, make_settings
from tests.segment.live import WRITE_KEY, nurture_serve

SOURCE = "segment:shop"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    with nurture_serve(database_url, tmp_path) as base_url:
        yield base_url


@pytest.fixture
def apply(database_url: str, tmp_path: Path) -> Iterator[Callable[[], int]]:
    """Apply what the live server's inbox holds (it runs no applier), as its appliers would."""
    settings = make_settings(database_url, tmp_path, segment_write_keys=f"{WRITE_KEY}=shop")
    runtime = build_runtime(settings, SystemClock(), publish=False)
    try:
        yield lambda: apply_inbox(runtime)
    finally:
        runtime.close()


def send(
    base_url: str, calls: list[tuple[str, dict[str, Any]]], *, write_key: str = WRITE_KEY
) -> list[Exception]:
    """Make each call through the SDK, flushed by the SDK itself; the errors it reported."""
    errors: list[Exception] = []
    client = Client(
        write_key=write_key,
        host=base_url,
        gzip=True,
        max_retries=1,
        on_error=lambda error, _batch: errors.append(error),
    )
    for method, arguments in calls:
        getattr(client, method)(**arguments)
    client.flush()
    client.join()
    return errors


def the_story() -> list[tuple[str, dict[str, Any]]]:
    """Ava browses the sale anonymously, signs up, orders; Ben browses, then is aliased.
    A second apart each, as the SDK stamps calls to the millisecond."""
    calls = [
        (
            "page",
            {
                "anonymous_id": "anon-ava",
                "name": "Sale",
                "properties": {"page": "sale"},
                "message_id": "m-1",
            },
        ),
        (
            "identify",
            {
                "user_id": "u-ava",
                "anonymous_id": "anon-ava",
                "traits": {
                    "email": "Ava@Example.com",
                    "phone": "+15555550100",
                    "firstName": "Ava",
                    "wedding_date": "2026-06-20",
                    "address": {"city": "Boston"},
                },
                "message_id": "m-2",
            },
        ),
        (
            "track",
            {
                "user_id": "u-ava",
                "event": "Form Submitted",
                "properties": {"form": "wedding-signup"},
                "message_id": "m-3",
            },
        ),
        (
            "track",
            {
                "user_id": "u-ava",
                "event": "Order Completed",
                "properties": {
                    "order_id": "o-1",
                    "revenue": 42.5,
                    "products": [
                        {
                            "sku": "tyc-24",
                            "name": "Thank-you cards",
                            "category": "thank-you-cards",
                            "price": 42.5,
                        },
                    ],
                },
                "message_id": "m-4",
            },
        ),
        (
            "page",
            {"anonymous_id": "anon-ben", "properties": {"page": "promo"}, "message_id": "m-5"},
        ),
        ("alias", {"previous_id": "anon-ben", "user_id": "u-ben", "message_id": "m-6"}),
        (
            "page",
            {"anonymous_id": "anon-ben", "properties": {"page": "favors"}, "message_id": "m-7"},
        ),
    ]
    start = datetime.now(UTC) - timedelta(minutes=10)
    return [
        (method, {**arguments, "timestamp": start + timedelta(seconds=index)})
        for index, (method, arguments) in enumerate(calls)
    ]


def contact(base_url: str, user_id: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/contacts", params={"external_id": user_id})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def events(base_url: str, contact_id: str) -> list[dict[str, Any]]:
    timeline = httpx.get(f"{base_url}/contacts/{contact_id}/timeline").json()
    return [entry for entry in timeline if entry["kind"] == "event"]


def snapshot(base_url: str, user_id: str) -> tuple[Any, ...]:
    found = contact(base_url, user_id)
    messages = httpx.get(f"{base_url}/contacts/{found['id']}/messages").json()
    return found["attributes"], found["enrollments"], events(base_url, found["id"]), messages


def test_sdk_calls_become_events_attributes_and_links(
    server: str, apply: Callable[[], int]
) -> None:
    assert send(server, the_story()) == []
    apply()

    ava = contact(server, "u-ava")
    assert (ava["email"], ava["phone"]) == ("ava@example.com", "+15555550100")
    assert ava["attributes"] == {
        "first_name": "Ava",
        "wedding_date": "2026-06-20",
        "address_city": "Boston",
    }
    status = {e["journey"]: e["status"] for e in ava["enrollments"]}
    # The sale page she viewed before signing up enrolled her once she identified; the
    # order's thank-you cards are the wedding story's goal.
    assert status == {"promo-after-exit": "active", "wedding-story": "converted"}
    seen = events(server, ava["id"])
    assert [e["summary"] for e in seen] == [
        "web.page_viewed",
        "contact.updated",
        "web.form_submitted",
        "order.completed",
    ]
    assert {e["data"]["source"] for e in seen} == {SOURCE}
    assert [e["data"]["id"] for e in seen] == ["m-1", "m-2", "m-3", "m-4"]
    order = seen[3]["data"]["properties"]
    assert order["revenue"] == 42.5
    assert order["categories"] == ["thank-you-cards"]
    assert order["products"][0]["sku"] == "tyc-24"

    ben = contact(server, "u-ben")
    assert [(e["journey"], e["status"]) for e in ben["enrollments"]] == [("promo-always", "active")]
    pages = [e["data"]["properties"]["page"] for e in events(server, ben["id"])]
    assert pages == ["promo", "favors"]  # before the alias, and after it by the anonymous id alone


def test_a_resent_batch_has_no_second_effect(server: str, apply: Callable[[], int]) -> None:
    assert send(server, the_story()) == []
    apply()
    before = [snapshot(server, user) for user in ("u-ava", "u-ben")]
    assert send(server, the_story()) == []
    apply()
    assert [snapshot(server, user) for user in ("u-ava", "u-ben")] == before


def stored_events(base_url: str) -> list[str]:
    metrics = httpx.get(f"{base_url}/metrics").text
    return [line for line in metrics.splitlines() if line.startswith("nurture_events{")]


def call(user_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user_id,
        "event": "Viewed Favors",
        "messageId": f"{user_id}-1",
        **extra,
    }


def test_refused_requests_store_nothing(server: str) -> None:
    errors = send(
        server, [("track", {"user_id": "u-wrong", "event": "Signed Up"})], write_key="wk_wrong"
    )
    assert [(type(e), getattr(e, "status", None)) for e in errors] == [(APIError, 401)]

    batch = {"batch": [call("u-missing")]}
    missing = httpx.post(f"{server}/v1/batch", json=batch)
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized"

    auth = (WRITE_KEY, "")
    huge = {"batch": [call("u-bomb", properties={"note": "x" * 20_000_000})]}
    bomb = gzip.compress(json.dumps(huge).encode())
    assert len(bomb) < 100_000
    response = httpx.post(
        f"{server}/v1/batch", content=bomb, auth=auth, headers={"Content-Encoding": "gzip"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "payload_too_large"

    many = {"batch": [call(f"u-big-{n}", properties={"note": "x" * 20_000}) for n in range(30)]}
    response = httpx.post(f"{server}/v1/batch", json=many, auth=auth)
    assert response.status_code == 400
    assert "500 KB" in response.json()["message"] or "bytes" in response.json()["message"]

    assert stored_events(server) == []
    for user in ("u-wrong", "u-missing", "u-bomb", "u-big-0"):
        assert httpx.get(f"{server}/contacts", params={"external_id": user}).status_code == 404
