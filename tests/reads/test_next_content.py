"""What the website shows next: per stage for operators, recommendations for the visitor."""

from __future__ import annotations

from pathlib import Path

from service.tracking.links import visitor_token
from tests.factories import FakeClock, Harness, make_settings, running_app, signup
from tests.reads.test_agent_card import ava_in_two_journeys

ORIGIN = {"Origin": "https://shop.example"}
SECRET = "test-secret-key"
KRAFT = {"name": "Kraft favor boxes", "url": "https://shop.example/favors/kraft"}
WRAP = {"name": "Botanical gift wrap", "url": "https://shop.example/wrap", "price": 14}


async def test_operators_see_each_stages_recommendations(context_app: Harness) -> None:
    contact_id = await ava_in_two_journeys(context_app)
    response = await context_app.client.get(f"/contacts/{contact_id}/next-content")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["contact_id"] == contact_id
    assert [(s["journey"], s["stage"], s["recommend"]) for s in body["stages"]] == [
        ("wedding-story", "favors", [KRAFT]),
        ("gift-guide", "browsing", [WRAP, KRAFT]),
    ]
    missing = await context_app.client.get("/contacts/nobody/next-content")
    assert missing.status_code == 404


async def test_the_visitor_gets_recommendations_and_nothing_about_her(
    context_app: Harness,
) -> None:
    contact_id = await ava_in_two_journeys(context_app)
    token = visitor_token(contact_id, secret=SECRET, issued_at=context_app.clock.now())
    body = {"key": "pk_test_shop", "token": token}
    response = await context_app.client.post("/next-content", json=body, headers=ORIGIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"recommendations": [KRAFT, WRAP]}
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    for private in (contact_id, "ava@example.com", "+15555550100", "wedding-story", "browsing"):
        assert private not in response.text
    preflight = await context_app.client.options("/next-content", headers=ORIGIN)
    assert preflight.status_code == 204


async def test_a_visitor_cannot_read_another_contacts_content(context_app: Harness) -> None:
    ava_id = await ava_in_two_journeys(context_app)
    await context_app.post_events(signup("ben@example.com"))
    ben_id = (await context_app.contact("ben@example.com"))["id"]
    now = context_app.clock.now()
    ben_token = visitor_token(ben_id, secret=SECRET, issued_at=now)
    forged = visitor_token(ava_id, secret="not-our-secret", issued_at=now)
    key = "pk_test_shop"
    cases = [
        ({"key": key, "token": ben_token, "contact_id": ava_id}, ORIGIN, 422),
        ({"key": key, "token": forged}, ORIGIN, 403),
        ({"key": key, "token": ben_token + "x"}, ORIGIN, 403),
        ({"token": ben_token}, ORIGIN, 401),
        ({"key": "pk_other", "token": ben_token}, ORIGIN, 401),
        ({"key": key, "token": ben_token}, {"Origin": "https://evil.example"}, 403),
    ]
    for body, headers, status in cases:
        response = await context_app.client.post("/next-content", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert KRAFT["url"] not in response.text
    own = await context_app.client.post(
        "/next-content", json={"key": key, "token": ben_token}, headers=ORIGIN
    )
    assert own.json() == {"recommendations": []}  # Ben is in the welcome stage: no content
    context_app.clock.advance(days=91)
    expired = await context_app.client.post(
        "/next-content", json={"key": key, "token": ben_token}, headers=ORIGIN
    )
    assert expired.status_code == 403


async def test_a_publishable_key_opens_no_contact(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        api_keys="reader=read",
        track_publishable_keys="pk_test_shop",
        track_allowed_origins="https://shop.example",
    )
    async with running_app(settings, FakeClock(), client_host="203.0.113.9") as app:
        reader = {"Authorization": "Bearer reader"}
        response = await app.client.get(
            "/contacts/any-id/next-content", headers={"Authorization": "Bearer pk_test_shop"}
        )
        assert response.status_code == 401
        response = await app.client.get("/contacts/any-id/next-content", headers=reader)
        assert response.status_code == 404
