"""GET /contacts/lookup?phone=: the agent card for a call-center screen-pop."""

from __future__ import annotations

from pathlib import Path

from tests.factories import FakeClock, Harness, event, make_settings, running_app, signup

PHONE = "+15555550100"


async def ava_in_two_journeys(app: Harness) -> str:
    """Ava signs up, gets the welcome email, clicks to favors, then browses gifts."""
    response = await app.post_events(signup(contact={"email": "ava@example.com", "phone": PHONE}))
    assert response.status_code == 200, response.text
    await app.run_scheduler()
    app.clock.advance(minutes=1)
    click = event("email.clicked", properties={"link": "favors", "url": "https://shop.example/f"})
    await app.post_events(click)
    await app.run_scheduler()
    app.clock.advance(minutes=1)
    await app.post_events(event("web.page_viewed", properties={"page": "gifts"}))
    contact_id: str = (await app.contact())["id"]
    return contact_id


async def test_card_of_a_contact_in_two_journeys(context_app: Harness) -> None:
    contact_id = await ava_in_two_journeys(context_app)
    await context_app.post_events(event("sms.opted_out", properties={"keyword": "STOP"}))
    response = await context_app.client.get("/contacts/lookup", params={"phone": PHONE})
    assert response.status_code == 200, response.text
    card = response.json()
    assert (card["contact_id"], card["name"], card["phone"]) == (contact_id, "Ava", PHONE)
    stages = [(j["journey"], j["stage"], j["agent_note"]) for j in card["journeys"]]
    assert stages == [
        ("wedding-story", "favors", None),
        ("gift-guide", "browsing", "Offer the free gift-wrap service."),
    ]
    assert card["journeys"][0]["recommend"] == [
        {"name": "Kraft favor boxes", "url": "https://shop.example/favors/kraft"}
    ]
    assert card["journeys"][1]["description"] == "Looking at gifts for the wedding party."
    assert card["journeys"][1]["since"] == context_app.clock.now().isoformat().replace(
        "+00:00", "Z"
    )
    assert [(m["stage"], m["status"]) for m in card["latest_messages"]] == [
        ("favors", "sent"),
        ("welcome", "sent"),
    ]
    assert [(c["link"], c["url"]) for c in card["latest_clicks"]] == [
        ("favors", "https://shop.example/f")
    ]
    assert card["consent"] == [
        {"channel": "email", "allowed": True, "reason": None},
        {"channel": "sms", "allowed": False, "reason": "sms.opted_out"},
    ]


async def test_national_numbers_and_unknown_ones(context_app: Harness) -> None:
    contact_id = await ava_in_two_journeys(context_app)
    for typed in ("(555) 555-0100", "555.555.0100", "+1 555 555 0100"):
        response = await context_app.client.get("/contacts/lookup", params={"phone": typed})
        assert response.status_code == 200, (typed, response.text)
        assert response.json()["contact_id"] == contact_id
    unknown = await context_app.client.get("/contacts/lookup", params={"phone": "+15555550199"})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "not_found", "detail": "no contact with phone +15555550199"}
    for bad in ("call me", "12", ""):
        response = await context_app.client.get("/contacts/lookup", params={"phone": bad})
        assert response.status_code == 422, bad
        assert response.json()["error"] == "invalid_input"
    missing = await context_app.client.get("/contacts/lookup")
    assert missing.status_code == 422


async def test_a_national_number_needs_a_default_region(database_url: str, tmp_path: Path) -> None:
    async with running_app(make_settings(database_url, tmp_path), FakeClock()) as app:
        response = await app.client.get("/contacts/lookup", params={"phone": "(555) 555-0100"})
    assert response.status_code == 422
    assert "NURTURE_DEFAULT_REGION" in response.json()["detail"][0]["message"]


async def test_the_card_needs_the_read_scope(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, api_keys="ingest=events,reader=read")
    async with running_app(settings, FakeClock(), client_host="203.0.113.9") as app:
        params = {"phone": PHONE}
        ingest = await app.client.get(
            "/contacts/lookup", params=params, headers={"Authorization": "Bearer ingest"}
        )
        assert ingest.status_code == 403
        reader = await app.client.get(
            "/contacts/lookup", params=params, headers={"Authorization": "Bearer reader"}
        )
        assert reader.status_code == 404
