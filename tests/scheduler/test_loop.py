"""The due-work loop: enrollments keep the journey version they started on, and a runtime
refuses journey files that cannot be loaded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.clock import SystemClock
from service.errors import ConfigError
from service.runtime import build_runtime
from tests.factories import FIXTURES, FakeClock, make_settings, running_app, signup


async def test_enrollment_keeps_its_version(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    story = journeys / "wedding-story.yaml"
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
    story.write_text(
        story.read_text().replace('version: "1"', 'version: "2"').replace("after: 3s", "after: 1h")
    )
    async with running_app(settings, clock) as app:
        await app.post_events(signup("bea@example.com"))
        clock.advance(seconds=3)
        assert (await app.run_scheduler()).timers == 1
        ava, bea = await app.contact(), await app.contact("bea@example.com")
        assert (ava["enrollments"][0]["version"], ava["enrollments"][0]["stage"]) == ("1", "favors")
        assert (bea["enrollments"][0]["version"], bea["enrollments"][0]["stage"]) == (
            "2",
            "welcome",
        )
        detail = (await app.client.get("/journeys/wedding-story")).json()
        assert [v["version"] for v in detail["versions"]] == ["1", "2"]


def test_rewritten_explicit_version_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    build_runtime(settings, SystemClock()).close()
    story = journeys / "wedding-story.yaml"
    story.write_text(story.read_text().replace("after: 3s", "after: 4s"))
    with pytest.raises(ConfigError, match="version 1 differs"):
        build_runtime(settings, SystemClock())


def test_missing_journeys_folder(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, journeys_dir=tmp_path / "absent")
    with pytest.raises(ConfigError, match="journeys folder not found"):
        build_runtime(settings, SystemClock())
