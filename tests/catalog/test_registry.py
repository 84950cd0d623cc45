"""The journey registry: loaded files by id, every stored version by (id, version), each
version stored once and compiled once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.engine.triggers import AfterTrigger
from service.errors import NotFound
from service.runtime import Runtime
from service.store.models import JourneyVersion
from tests.factories import (
    START,
    FakeClock,
    journeys_copy,
    make_settings,
    open_runtime,
    release_story,
    stored,
)

STORY = "wedding-story"


def test_current_journeys_and_their_date_attributes(runtime: Runtime) -> None:
    registry = runtime.journeys
    assert sorted(registry.current) == ["promo-after-exit", "promo-always", STORY]
    assert registry.date_attributes == frozenset({"wedding_date"})
    assert registry.current_of(STORY).version == "1"
    with pytest.raises(NotFound, match="no-such-journey"):
        registry.current_of("no-such-journey")


def test_a_loaded_version_is_served_as_loaded(runtime: Runtime) -> None:
    registry = runtime.journeys
    assert registry.get(STORY, "1") is registry.current[STORY]
    with pytest.raises(NotFound, match="version 9 is not stored"):
        registry.get(STORY, "9")


def test_each_version_is_stored_once_and_older_ones_stay_available(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    folder = journeys_copy(tmp_path)
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    with open_runtime(settings, clock):
        pass
    clock.advance(days=1)
    with open_runtime(settings, clock):  # a restart registers nothing new
        pass
    release_story(folder, "2", after="1h")
    with open_runtime(settings, clock) as runtime:
        rows = stored(runtime, JourneyVersion, journey_id=STORY)
        assert sorted((r.version, r.created_at) for r in rows) == [
            ("1", START),
            ("2", START + timedelta(days=1)),
        ]
        assert runtime.journeys.current_of(STORY).version == "2"
        old = runtime.journeys.get(STORY, "1")
        assert old.version == "1"
        [welcome_timer] = [t.trigger for t in old.stage("welcome").on if t.is_timer]
        assert isinstance(welcome_timer, AfterTrigger)
        assert welcome_timer.after == timedelta(seconds=3)  # compiled from the stored source
        assert runtime.journeys.get(STORY, "1") is old  # and only once
