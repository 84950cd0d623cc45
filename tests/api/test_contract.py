"""The OpenAPI document says what the server sends: error bodies, statuses, the lookup's
query; and an unreachable database answers 503 with Retry-After, never 500."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from service.api.errors import ErrorBody, InvalidInputBody
from service.store.db import Database
from tests.factories import Harness, event, signup


def _spec(harness: Harness) -> dict[str, Any]:
    spec: dict[str, Any] = harness.app.openapi()
    return spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _ref(response: dict[str, Any]) -> str:
    ref: str = response["content"]["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[1]


async def test_the_422_body_is_documented_as_sent(harness: Harness) -> None:
    spec = _spec(harness)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "ValidationError" not in spec["components"]["schemas"]
    documented = [(m, p) for m, p, op in _operations(spec) if "422" in op["responses"]]
    assert ("POST", "/events") in documented
    for method, path, operation in _operations(spec):
        if "422" in operation["responses"]:
            assert _ref(operation["responses"]["422"]) == "InvalidInputBody", (method, path)
        has_input = operation.get("parameters") or operation.get("requestBody")
        # Segment's tracking API answers a malformed call with 400, as its SDKs expect.
        refusal = "400" if path.startswith("/v1/") else "422"
        assert not has_input or refusal in operation["responses"], (method, path)
    sent = await harness.post_events(event("NOPE"))
    assert sent.status_code == 422
    InvalidInputBody.model_validate(sent.json())


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("POST", "/events", {"200", "400", "401", "403", "409", "413", "422", "503"}),
        ("POST", "/contacts", {"200", "201", "401", "403", "404", "409", "413", "422", "503"}),
        ("PATCH", "/contacts/{contact_id}", {"200", "401", "403", "404", "409", "422", "503"}),
        ("GET", "/contacts/{contact_id}", {"200", "401", "403", "404", "422", "503"}),
        ("DELETE", "/contacts/{contact_id}", {"204", "401", "403", "404", "422", "503"}),
        ("POST", "/contacts/{contact_id}/enrollments", {"201", "404", "409", "413", "422"}),
        ("POST", "/track", {"202", "401", "403", "404", "409", "413", "422", "503"}),
        ("POST", "/webhooks/{provider}", {"200", "400", "401", "404", "413", "503"}),
        ("GET", "/c/{token}", {"302", "403", "404", "422"}),
        ("GET", "/readyz", {"200", "503"}),
    ],
)
async def test_statuses_routes_can_send_are_documented(
    harness: Harness, method: str, path: str, statuses: set[str]
) -> None:
    operation = _spec(harness)["paths"][path][method.lower()]
    assert statuses <= set(operation["responses"]), sorted(operation["responses"])


async def test_the_lookup_query_says_exactly_one_identifier(harness: Harness) -> None:
    operation = _spec(harness)["paths"]["/contacts"]["get"]
    [parameter] = operation["parameters"]
    assert parameter["required"] is True
    branches = parameter["schema"]["oneOf"]
    assert [b["required"] for b in branches] == [["email"], ["phone"], ["external_id"]]
    refused = await harness.client.get("/contacts")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "query"
    both = await harness.client.get("/contacts?email=ava@example.com&phone=%2B15555550100")
    assert both.status_code == 422


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_unreachable_database_answers_503_with_retry_after(harness: Harness) -> None:
    await harness.post_events(signup())
    contact = await harness.contact()
    runtime = harness.app.state.runtime
    reachable = runtime.db
    runtime.db = Database(f"postgresql+psycopg://nurture@127.0.0.1:{_closed_port()}/nurture")
    try:
        answers = [
            await harness.client.get(f"/contacts/{contact['id']}"),
            await harness.post_events(signup("bea@example.com")),
            await harness.client.get("/journeys"),
        ]
        ready = await harness.client.get("/readyz")
    finally:
        runtime.db.dispose()
        runtime.db = reachable
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert ErrorBody.model_validate(response.json()).error == "unavailable"
        assert "psycopg" not in response.text and "127.0.0.1" not in response.text
    assert (ready.status_code, ready.headers["Retry-After"]) == (503, "5")
    assert (await harness.client.get(f"/contacts/{contact['id']}")).status_code == 200
