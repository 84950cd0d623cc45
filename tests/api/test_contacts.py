"""Contacts: upsert, profile changes that move timers, lookups and manual steering."""

from __future__ import annotations

from datetime import datetime

from tests.factories import Harness, event, signup


async def test_upsert_creates_then_updates(harness: Harness) -> None:
    body = {"email": "Ava@Example.com", "attributes": {"first_name": "Ava"}}
    created = await harness.client.post("/contacts", json=body)
    assert created.status_code == 201
    assert created.json()["email"] == "ava@example.com"
    updated = await harness.client.post(
        "/contacts",
        json={"email": "ava@example.com", "phone": "+15555550100", "persona": "bride"},
    )
    assert updated.status_code == 200
    data = updated.json()
    assert (data["id"], data["phone"], data["persona"]) == (
        created.json()["id"],
        "+15555550100",
        "bride",
    )
    assert data["attributes"] == {"first_name": "Ava"}
    by_phone = await harness.client.get("/contacts", params={"phone": "+15555550100"})
    assert by_phone.json()["id"] == data["id"]


async def test_upsert_conflict_between_two_contacts(harness: Harness) -> None:
    await harness.client.post("/contacts", json={"email": "a@example.com"})
    await harness.client.post("/contacts", json={"external_id": "crm-2"})
    response = await harness.client.post(
        "/contacts", json={"email": "a@example.com", "external_id": "crm-2"}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_patch_merges_and_reschedules(harness: Harness) -> None:
    await harness.post_events(signup())
    contact = await harness.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    moved = await harness.client.post(url, json={"stage": "favors"})
    assert moved.json()["moved"][0]["to"] == "favors"
    contact = await harness.contact()
    assert contact["enrollments"][0]["next_due_at"] is not None
    first_due = datetime.fromisoformat(contact["enrollments"][0]["next_due_at"])

    patched = await harness.client.patch(
        f"/contacts/{contact['id']}",
        json={"attributes": {"wedding_date": "2026-09-12", "first_name": None}},
    )
    assert patched.status_code == 200
    data = patched.json()
    assert data["attributes"] == {"wedding_date": "2026-09-12"}
    second_due = datetime.fromisoformat(data["enrollments"][0]["next_due_at"])
    assert second_due.date().isoformat() == "2026-08-13"
    assert second_due > first_due


async def test_manual_enroll_move_exit(harness: Harness) -> None:
    created = (await harness.client.post("/contacts", json={"email": "ava@example.com"})).json()
    base = f"/contacts/{created['id']}/enrollments"
    enrolled = await harness.client.post(base, json={"journey": "wedding-story"})
    assert enrolled.status_code == 201
    assert enrolled.json()["enrolled"][0]["stage"] == "welcome"
    again = await harness.client.post(base, json={"journey": "wedding-story"})
    assert again.status_code == 409
    unknown = await harness.client.post(f"{base}/wedding-story/move", json={"stage": "nowhere"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "stage"
    exited = await harness.client.post(f"{base}/wedding-story/exit")
    assert exited.json()["moved"][0]["trigger"] == "exit:manual"
    assert (await harness.client.post(f"{base}/wedding-story/exit")).status_code == 404
    missing = await harness.client.post(base, json={"journey": "no-such-journey"})
    assert missing.status_code == 404


async def test_lookups_that_fail(harness: Harness) -> None:
    assert (await harness.client.get("/contacts/nope")).status_code == 404
    assert (await harness.client.get("/contacts/nope/timeline")).status_code == 404
    both = await harness.client.get(
        "/contacts", params={"email": "a@b.co", "phone": "+15555550100"}
    )
    assert both.status_code == 422


async def test_journeys_with_counts(harness: Harness) -> None:
    await harness.post_events(signup())
    await harness.post_events(signup("bea@example.com"))
    listing = (await harness.client.get("/journeys")).json()
    story = next(j for j in listing if j["id"] == "wedding-story")
    assert story["version"] == "1"
    assert story["active_by_stage"] == {"welcome": 2, "favors": 0, "thank_you": 0, "done": 0}
    detail = (await harness.client.get("/journeys/wedding-story")).json()
    assert detail["entry"]["reenter"] == "never"
    assert [s["name"] for s in detail["stages"]] == ["welcome", "favors", "thank_you", "done"]
    assert detail["stages"][0]["transitions"][1] == {"to": "favors", "after": "3s"}
    assert detail["versions"][0]["version"] == "1" and detail["versions"][0]["active"] == 2
    assert (await harness.client.get("/journeys/nope")).status_code == 404


async def test_journey_diagram_shows_live_counts(harness: Harness) -> None:
    await harness.post_events(signup())
    await harness.post_events(signup("bea@example.com"))
    click = event("email.clicked", email="bea@example.com", properties={"link": "favors"})
    await harness.post_events(click)
    response = await harness.client.get("/journeys/wedding-story/diagram")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = [line.strip() for line in response.text.splitlines()]
    assert lines[0] == "flowchart TD"
    assert 's_welcome["welcome<br/>email: story/welcome<br/>1 active"]' in lines
    assert 's_welcome -->|"email.clicked (if) (1x)"| s_favors' in lines
    assert 's_welcome -->|"after 3s"| s_favors' in lines  # same stages, counted per trigger
    assert 's_done(["done<br/>0 active"])' in lines
    assert (await harness.client.get("/journeys/nope/diagram")).status_code == 404


async def test_erasure_removes_the_contact_and_all_her_data(harness: Harness) -> None:
    await harness.post_events(signup(id="signup-ava"))
    await harness.post_events(signup("bea@example.com"))
    await harness.run_scheduler()
    ava = await harness.contact()
    assert (await harness.client.delete(f"/contacts/{ava['id']}")).status_code == 204
    for path in ("", "/timeline", "/messages"):
        assert (await harness.client.get(f"/contacts/{ava['id']}{path}")).status_code == 404
    assert (await harness.client.get("/contacts?email=ava@example.com")).status_code == 404
    assert (await harness.client.delete(f"/contacts/{ava['id']}")).status_code == 404
    listing = (await harness.client.get("/journeys")).json()
    story = next(j for j in listing if j["id"] == "wedding-story")
    assert story["active_by_stage"]["welcome"] == 1  # Bea is untouched
    bea = await harness.contact("bea@example.com")
    timeline = (await harness.client.get(f"/contacts/{bea['id']}/timeline")).json()
    assert [t["kind"] for t in timeline][:2] == ["event", "transition"]
    # Her old signup, redelivered, is new again: nothing of her was kept.
    again = await harness.post_events(signup(id="signup-ava"))
    assert again.json()["status"] == "accepted"


async def test_openapi_has_examples(harness: Harness) -> None:
    schema = (await harness.client.get("/openapi.json")).json()
    body = schema["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) == {"one", "batch"}
