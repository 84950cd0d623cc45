"""POST /journeys/{id}/enroll: every existing contact a guard matches, in batches, honouring
re-entry; the dry run counts exactly what the real run then does."""

from __future__ import annotations

import pytest

from service.enrollments import audience
from service.store.models import Contact, Enrollment
from tests.factories import Harness, add_contact, stored

LATE = (
    "contact.attributes.wedding_date is defined and contact.attributes.wedding_date > '2026-09-01'"
)


def _brides(harness: Harness) -> None:
    runtime = harness.app.state.runtime
    for number, wedding in enumerate(["2026-06-20", "2026-10-03", "2027-01-09", "2026-12-12"]):
        add_contact(runtime, email=f"b{number}@example.com", attributes={"wedding_date": wedding})
    add_contact(runtime, email="nodate@example.com")


async def test_dry_run_counts_equal_the_real_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audience, "BATCH", 2)  # several batches, each its own transaction
    _brides(harness)
    url = "/journeys/wedding-story/enroll"
    dry = await harness.client.post(url, json={"where": LATE})
    assert dry.status_code == 200, dry.text
    counted = dry.json()
    assert counted == {
        "journey": "wedding-story",
        "version": "1",
        "dry_run": True,
        "contacts": 5,
        "matched": 3,
        "enrolled": 3,
        "skipped_reentry": 0,
        "not_matched": 2,
        "guard_errors": 0,
        "first_guard_error": None,
    }
    runtime = harness.app.state.runtime
    assert stored(runtime, Enrollment) == []
    done = (await harness.client.post(url, json={"where": LATE, "dry_run": False})).json()
    assert {**done, "dry_run": True} == counted
    enrolled = stored(runtime, Enrollment)
    emails = {c.id: c.email for c in stored(runtime, Contact)}
    assert sorted(emails[e.contact_id] for e in enrolled) == [
        "b1@example.com",
        "b2@example.com",
        "b3@example.com",
    ]
    assert {(e.stage, e.version) for e in enrolled} == {("welcome", "1")}
    again = (await harness.client.post(url, json={"where": LATE, "dry_run": False})).json()
    assert (again["enrolled"], again["skipped_reentry"]) == (0, 3)  # reenter: never


async def test_re_entry_after_exit_skips_active_enrollments(harness: Harness) -> None:
    _brides(harness)
    url = "/journeys/promo-after-exit/enroll"
    body = {"where": "contact.email.startswith('b')", "dry_run": False}
    first = (await harness.client.post(url, json=body)).json()
    assert (first["matched"], first["enrolled"]) == (4, 4)
    harness.clock.advance(days=1, seconds=1)
    await harness.run_scheduler()  # every one finishes the journey
    dry = (await harness.client.post(url, json={**body, "dry_run": True})).json()
    assert (dry["enrolled"], dry["skipped_reentry"]) == (4, 0)
    second = (await harness.client.post(url, json=body)).json()
    assert (second["enrolled"], second["skipped_reentry"]) == (4, 0)
    third = (await harness.client.post(url, json=body)).json()
    assert (third["enrolled"], third["skipped_reentry"]) == (0, 4)


async def test_bad_guards_and_unknown_journeys(harness: Harness) -> None:
    _brides(harness)
    bad = await harness.client.post("/journeys/wedding-story/enroll", json={"where": "contact.("})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "where"
    empty = await harness.client.post("/journeys/wedding-story/enroll", json={"where": ""})
    assert empty.status_code == 422 and empty.json()["detail"][0]["field"] == "where"
    failing = await harness.client.post(
        "/journeys/wedding-story/enroll", json={"where": "contact.attributes.wedding_date > 3"}
    )
    report = failing.json()  # four compare text with a number, one has no date at all
    assert (report["guard_errors"], report["matched"], report["not_matched"]) == (5, 0, 5)
    assert "failed: " in report["first_guard_error"]
    unknown = await harness.client.post("/journeys/nope/enroll", json={"where": "true"})
    assert unknown.status_code == 404
