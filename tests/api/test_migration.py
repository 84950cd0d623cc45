"""Journey versions: enrollments stay pinned until an operator migrates them, dry run first."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from service.enrollments import repository as enrollments_repo
from service.enrollments.migration import adopt
from tests.factories import FIXTURES, FakeClock, event, make_settings, running_app, signup


async def test_migrate_enrollments_to_the_current_version(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
        await app.post_events(signup("bea@example.com"))
        await app.post_events(event("email.clicked", properties={"link": "favors"}))
    story = journeys / "wedding-story.yaml"
    text = story.read_text().replace('version: "1"', 'version: "2"')
    text = text.replace("after: 3s", "after: 1h").replace("  favors:\n", "  favor_boxes:\n")
    story.write_text(text.replace("to: favors", "to: favor_boxes"))
    clock.advance(seconds=1)
    async with running_app(settings, clock) as app:
        url = "/journeys/wedding-story/migrate"
        dry = (await app.client.post(url, json={})).json()
        assert dry == {
            "journey": "wedding-story",
            "to_version": "2",
            "dry_run": True,
            "migrated": {"1:welcome -> welcome": 1},
            "unmapped": {"1:favors": 1},
        }
        ava, bea = await app.contact(), await app.contact("bea@example.com")
        assert {ava["enrollments"][0]["version"], bea["enrollments"][0]["version"]} == {"1"}

        bad = await app.client.post(url, json={"stage_map": {"favors": "nope"}})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "stage_map"

        body = {"dry_run": False, "stage_map": {"favors": "favor_boxes"}}
        done = (await app.client.post(url, json=body)).json()
        assert done["migrated"] == {"1:welcome -> welcome": 1, "1:favors -> favor_boxes": 1}
        assert done["unmapped"] == {}
        ava, bea = await app.contact(), await app.contact("bea@example.com")
        [ava_now], [bea_now] = ava["enrollments"], bea["enrollments"]
        assert (ava_now["version"], ava_now["stage"], ava_now["visit"]) == ("2", "favor_boxes", 2)
        assert (bea_now["version"], bea_now["stage"]) == ("2", "welcome")
        entered = datetime.fromisoformat(bea_now["entered_at"])
        assert datetime.fromisoformat(bea_now["next_due_at"]) == entered + timedelta(hours=1)
        timeline = (await app.client.get(f"/contacts/{ava['id']}/timeline")).json()
        moves = [t["data"] for t in timeline if t["kind"] == "transition"]
        assert (moves[-1]["from"], moves[-1]["to"], moves[-1]["trigger"]) == (
            "favors",
            "favor_boxes",
            "migrate:1->2",
        )
        assert moves[-1]["version"] == "2"
        messages = (await app.client.get(f"/contacts/{ava['id']}/messages")).json()
        assert [m["stage"] for m in messages] == ["welcome", "favors"]  # nothing sent again
        again = (await app.client.post(url, json={"dry_run": False})).json()
        assert (again["migrated"], again["unmapped"]) == ({}, {})
        listing = (await app.client.get("/journeys")).json()
        story_now = next(j for j in listing if j["id"] == "wedding-story")
        assert story_now["active_by_stage"]["favor_boxes"] == 1


async def test_a_contact_who_moved_after_listing_is_left_alone(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
    story = journeys / "wedding-story.yaml"
    text = story.read_text().replace('version: "1"', 'version: "2"')
    story.write_text(text.replace("after: 3s", "after: 1h"))
    async with running_app(settings, clock) as app:
        runtime = app.app.state.runtime
        [(enrollment_id, contact_id, version, stage)] = repo_rows(runtime)
        # She clicks on after the migration listed her in `welcome`.
        await app.post_events(event("email.clicked", properties={"link": "favors"}))
        current = runtime.journeys.current_of("wedding-story")
        assert not adopt(
            runtime, current, enrollment_id, contact_id, listed=(version, stage), stage="welcome"
        )
        [now] = (await app.contact())["enrollments"]
        assert (now["version"], now["stage"]) == ("1", "favors")
        # Onto a final stage of the new version, she completes.
        body = {"dry_run": False, "stage_map": {"favors": "done"}}
        assert (await app.client.post("/journeys/wedding-story/migrate", json=body)).json()[
            "migrated"
        ] == {"1:favors -> done": 1}
        [done] = (await app.contact())["enrollments"]
        assert (done["version"], done["stage"], done["status"]) == ("2", "done", "completed")
        assert done["ended_at"] is not None


def repo_rows(runtime: Any) -> list[tuple[str, str, str, str]]:
    with runtime.db.session() as session:
        return enrollments_repo.enrollments_to_migrate(
            session, journey_id="wedding-story", current_version="2", from_version=None
        )
