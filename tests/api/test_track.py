"""The website: nurture.js and POST /track with a publishable key, CORS and signed tokens."""

from __future__ import annotations

import uuid
from typing import Any

from service.links import sign_token, visitor_token
from tests.factories import Harness, signup

ORIGIN = {"Origin": "https://shop.example"}
SECRET = "test-link-secret"


def web(type: str = "web.page_viewed", **fields: Any) -> dict[str, Any]:
    return {"key": "pk_test_shop", "id": str(uuid.uuid4()), "type": type, **fields}


async def test_snippet_is_served(hooks: Harness) -> None:
    response = await hooks.client.get("/js/nurture.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "window.nurture" in response.text and "/track" in response.text


async def test_page_view_from_an_email_link_visitor(hooks: Harness) -> None:
    await hooks.post_events(signup())
    contact = await hooks.contact()
    token = visitor_token(contact["id"], secret=SECRET)
    body = web(token=token, properties={"page": "favors"})
    response = await hooks.client.post("/track", json=body, headers=ORIGIN)
    assert response.status_code == 202
    assert response.json() == {"id": body["id"], "status": "accepted"}
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    again = await hooks.client.post("/track", json=body, headers=ORIGIN)
    assert again.json()["status"] == "duplicate"
    timeline = (await hooks.client.get(f"/contacts/{contact['id']}/timeline")).json()
    assert [e["summary"] for e in timeline if e["kind"] == "event"].count("web.page_viewed") == 1


async def test_signup_form_enrolls_by_email(hooks: Harness) -> None:
    body = web(
        "web.form_submitted",
        email="Ava@Example.com",
        properties={"form": "wedding-signup"},
        attributes={"wedding_date": "2026-06-20"},
    )
    assert (await hooks.client.post("/track", json=body, headers=ORIGIN)).status_code == 202
    contact = await hooks.contact()
    assert contact["attributes"] == {"wedding_date": "2026-06-20"}
    assert [e["journey"] for e in contact["enrollments"]] == ["wedding-story"]


async def test_refusals(hooks: Harness) -> None:
    token = visitor_token("00000000-0000-0000-0000-000000000000", secret=SECRET)
    forged = sign_token({"k": "t", "c": "someone"}, secret="guess")
    cases = [
        (web(token=token) | {"key": "pk_other"}, ORIGIN, 401),
        (web(token=token) | {"key": None}, ORIGIN, 401),
        (web("email.unsubscribed", token=token), ORIGIN, 403),
        (web(token=token), {"Origin": "https://evil.example"}, 403),
        (web(token=forged), ORIGIN, 403),
        (web(), ORIGIN, 422),  # nobody named
        (web(email="ava@example.com"), ORIGIN, 422),  # email only on form submissions
    ]
    for body, headers, status in cases:
        response = await hooks.client.post("/track", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
    header_key = web("web.form_submitted", email="ava@example.com") | {"key": None}
    headers = ORIGIN | {"X-Nurture-Key": "pk_test_shop"}
    assert (await hooks.client.post("/track", json=header_key, headers=headers)).status_code == 202


async def test_preflight_only_for_configured_origins(hooks: Harness) -> None:
    request = {"Access-Control-Request-Method": "POST"}
    allowed = await hooks.client.options("/track", headers=ORIGIN | request)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-credentials" not in allowed.headers
    assert "x-nurture-key" in allowed.headers["access-control-allow-headers"].lower()
    other = await hooks.client.options("/track", headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    assert "access-control-allow-origin" not in other.headers


async def test_tracking_is_off_without_keys(harness: Harness) -> None:
    response = await harness.client.post("/track", json=web(), headers=ORIGIN)
    assert response.status_code == 404
