"""What each API key scope may do, route by route: every route of the app is in the table,
so a new route without a decided scope fails here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts

from tests.api.signing import webhook_settings
from tests.factories import FakeClock, Harness, event, running_app, signup

KEYS = {"events": "k-events", "read": "k-read", "write": "k-write", "all": "k-all"}
SCOPES = ("none", *KEYS)
NO_KEY, OPEN = 401, None
FORGED = "eyJrIjoidSJ9.forged"


def _by_scope(allowed: dict[str, int], *, denied: int = 403) -> dict[str, int]:
    """Statuses per caller: 401 without a key, `denied` for scopes not listed."""
    return {"none": NO_KEY} | {scope: allowed.get(scope, denied) for scope in KEYS}


def _everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(SCOPES, status)


# (method, route path) -> (request: method, url, extra kwargs; expected status per caller).
# {id} is a contact that exists; {gone} one that does not.
TABLE: dict[tuple[str, str], tuple[dict[str, Any], dict[str, int]]] = {
    ("POST", "/events"): (
        {"json": event("web.page_viewed", id="scope-1")},
        _by_scope({"events": 202, "all": 202}),
    ),
    ("POST", "/contacts"): (
        {"json": {"email": "ava@example.com", "attributes": {"vip": True}}},
        _by_scope({"events": 200, "all": 200}),
    ),
    ("PATCH", "/contacts/{contact_id}"): (
        {"url": "/contacts/{id}", "json": {"attributes": {"vip": True}}},
        _by_scope({"events": 200, "all": 200}),
    ),
    ("GET", "/contacts"): (
        {"params": {"email": "ava@example.com"}},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/contacts/{contact_id}"): (
        {"url": "/contacts/{id}"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/contacts/{contact_id}/timeline"): (
        {"url": "/contacts/{id}/timeline"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/contacts/{contact_id}/messages"): (
        {"url": "/contacts/{id}/messages"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("DELETE", "/contacts/{contact_id}"): (
        {"url": "/contacts/{gone}"},
        _by_scope({"write": 404, "all": 404}),
    ),
    ("POST", "/contacts/{contact_id}/enrollments"): (
        {"url": "/contacts/{id}/enrollments", "json": {"journey": "wedding-story"}},
        _by_scope({"write": 409, "all": 409}),  # she is already in it
    ),
    ("POST", "/contacts/{contact_id}/enrollments/{journey_id}/move"): (
        {"url": "/contacts/{id}/enrollments/nope/move", "json": {"stage": "favors"}},
        _by_scope({"write": 404, "all": 404}),
    ),
    ("POST", "/contacts/{contact_id}/enrollments/{journey_id}/exit"): (
        {"url": "/contacts/{id}/enrollments/nope/exit"},
        _by_scope({"write": 404, "all": 404}),
    ),
    ("GET", "/journeys"): ({}, _by_scope({"read": 200, "all": 200})),
    ("GET", "/journeys/{journey_id}"): (
        {"url": "/journeys/wedding-story"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/diagram"): (
        {"url": "/journeys/wedding-story/diagram"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/stuck"): (
        {"url": "/journeys/wedding-story/stuck"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics"): (
        {"url": "/journeys/wedding-story/analytics"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics/stages"): (
        {"url": "/journeys/wedding-story/analytics/stages"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics/messages"): (
        {"url": "/journeys/wedding-story/analytics/messages"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics/channels"): (
        {"url": "/journeys/wedding-story/analytics/channels"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics/paths"): (
        {"url": "/journeys/wedding-story/analytics/paths"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("GET", "/journeys/{journey_id}/analytics/lift"): (
        {"url": "/journeys/wedding-story/analytics/lift"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("POST", "/journeys/{journey_id}/migrate"): (
        {"url": "/journeys/wedding-story/migrate", "json": {"dry_run": True}},
        _by_scope({"write": 200, "all": 200}),
    ),
    ("POST", "/journeys/{journey_id}/enroll"): (
        {
            "url": "/journeys/wedding-story/enroll",
            "json": {"where": "contact.persona == 'bride'", "dry_run": True},
        },
        _by_scope({"write": 200, "all": 200}),
    ),
    ("POST", "/journeys/reload"): ({}, _by_scope({"write": 200, "all": 200})),
    ("GET", "/metrics"): ({}, _by_scope({"read": 200, "all": 200})),
    ("GET", "/healthz"): ({}, _everyone(200)),
    ("GET", "/readyz"): ({}, _everyone(200)),
    # Signed links, the website and provider webhooks carry their own credentials.
    ("GET", "/u/{token}"): ({"url": f"/u/{FORGED}"}, _everyone(403)),
    ("POST", "/u/{token}"): ({"url": f"/u/{FORGED}"}, _everyone(403)),
    ("GET", "/c/{token}"): ({"url": f"/c/{FORGED}"}, _everyone(403)),
    ("GET", "/o/{token}"): ({"url": f"/o/{FORGED}"}, _everyone(403)),
    ("GET", "/js/nurture.js"): ({}, _everyone(200)),
    ("OPTIONS", "/track"): ({"headers": {"Origin": "https://shop.example"}}, _everyone(204)),
    ("POST", "/track"): (
        {
            "json": {
                "key": "pk_test_shop",
                "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "type": "web.form_submitted",
                "email": "ava@example.com",
            }
        },
        _everyone(202),
    ),
    ("GET", "/contacts/lookup"): (
        {"params": {"phone": "+15555550199"}},
        _by_scope({"read": 404, "all": 404}),  # nobody holds that number
    ),
    ("GET", "/contacts/{contact_id}/next-content"): (
        {"url": "/contacts/{id}/next-content"},
        _by_scope({"read": 200, "all": 200}),
    ),
    ("OPTIONS", "/next-content"): ({"headers": {"Origin": "https://shop.example"}}, _everyone(204)),
    ("POST", "/next-content"): (
        {"json": {"key": "pk_test_shop", "token": FORGED}},
        _everyone(403),
    ),
    # The Segment-compatible API takes write keys (HTTP Basic), never API keys.
    ("POST", "/v1/batch"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/batch"): ({}, _everyone(204)),
    ("POST", "/v1/track"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/track"): ({}, _everyone(204)),
    ("POST", "/v1/identify"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/identify"): ({}, _everyone(204)),
    ("POST", "/v1/page"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/page"): ({}, _everyone(204)),
    ("POST", "/v1/screen"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/screen"): ({}, _everyone(204)),
    ("POST", "/v1/group"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/group"): ({}, _everyone(204)),
    ("POST", "/v1/alias"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/alias"): ({}, _everyone(204)),
    ("POST", "/v1/b"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/b"): ({}, _everyone(204)),
    ("POST", "/v1/t"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/t"): ({}, _everyone(204)),
    ("POST", "/v1/i"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/i"): ({}, _everyone(204)),
    ("POST", "/v1/p"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/p"): ({}, _everyone(204)),
    ("POST", "/v1/s"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/s"): ({}, _everyone(204)),
    ("POST", "/v1/g"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/g"): ({}, _everyone(204)),
    ("POST", "/v1/a"): ({"json": {}}, _everyone(401)),
    ("OPTIONS", "/v1/a"): ({}, _everyone(204)),
    ("POST", "/webhooks/{provider}"): (
        {"url": "/webhooks/standard", "content": b"{}"},
        _everyone(401),
    ),
    ("GET", "/openapi.json"): ({}, _everyone(200)),
    ("GET", "/docs"): ({}, _everyone(200)),
    ("GET", "/docs/oauth2-redirect"): ({}, _everyone(200)),
    ("GET", "/redoc"): ({}, _everyone(200)),
}


@pytest.fixture
async def app(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    keys = ",".join(f"{key}={scope}" for scope, key in KEYS.items() if scope != "all")
    settings = webhook_settings(
        database_url, tmp_path, api_keys=f"{keys},{KEYS['all']}", segment_write_keys="wk_scope"
    )
    async with running_app(settings, clock, client_host="10.0.0.7") as running:
        yield running


def _routes(harness: Harness) -> set[tuple[str, str]]:
    found = set()
    for route in iter_route_contexts(harness.app.routes):
        found |= {(m, str(route.path)) for m in route.methods or () if m != "HEAD"}
    return found


def _auth(scope: str) -> dict[str, str]:
    return {} if scope == "none" else {"Authorization": f"Bearer {KEYS[scope]}"}


async def test_every_route_has_a_decided_scope(app: Harness) -> None:
    assert _routes(app) == set(TABLE)


async def test_route_by_scope(app: Harness) -> None:
    created = await app.client.post(
        "/events", params={"wait": "true"}, json=signup(), headers=_auth("all")
    )
    assert created.status_code == 200
    contact_id = created.json()["contact_id"]
    seen: dict[tuple[str, str, str], int] = {}
    expected: dict[tuple[str, str, str], int] = {}
    for (method, path), (request, statuses) in TABLE.items():
        url = request.get("url", path).format(id=contact_id, gone="no-such-contact")
        extra = {k: v for k, v in request.items() if k not in ("url", "headers")}
        for scope, status in statuses.items():
            headers = {**request.get("headers", {}), **_auth(scope)}
            response = await app.client.request(method, url, headers=headers, **extra)
            seen[(method, path, scope)] = response.status_code
            expected[(method, path, scope)] = status
    assert seen == expected


@pytest.mark.parametrize("scope", ["events", "all"])
async def test_a_write_answers_the_profile_only_to_readers(app: Harness, scope: str) -> None:
    await app.client.post("/events", params={"wait": "true"}, json=signup(), headers=_auth("all"))
    upsert = await app.client.post(
        "/contacts",
        json={"email": "ava@example.com", "phone": "+15555550100", "attributes": {"vip": True}},
        headers=_auth(scope),
    )
    assert upsert.status_code == 200, upsert.text
    contact_id = upsert.json()["id"]
    patch = await app.client.patch(
        f"/contacts/{contact_id}",
        json={"timezone": "Europe/Paris", "attributes": {"tier": None}},
        headers=_auth(scope),
    )
    new = await app.client.post(
        "/contacts", json={"email": "bea@example.com"}, headers=_auth(scope)
    )
    assert (patch.status_code, new.status_code) == (200, 201)
    if scope == "all":
        assert upsert.json()["attributes"]["first_name"] == "Ava"
        assert patch.json()["enrollments"][0]["journey"] == "wedding-story"
        return
    assert upsert.json() == {
        "id": contact_id,
        "created": False,
        "changed": ["email", "phone", "attributes.vip"],
    }
    assert patch.json() == {
        "id": contact_id,
        "created": False,
        "changed": ["timezone", "attributes.tier"],
    }
    assert new.json() == {"id": new.json()["id"], "created": True, "changed": ["email"]}
