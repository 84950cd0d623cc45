"""Version migration beyond the operator's journey (tests/api/test_migration.py): choosing
the old version, refusing bad maps, and what adopting keeps of her place."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest

from service.enrollments.actions import exit_journey
from service.enrollments.migration import adopt, migrate_journey
from service.enrollments.schemas import MigrateIn
from service.errors import InvalidInput, NotFound
from service.runtime import Runtime
from service.store.models import Enrollment, Message, TransitionRecord
from tests.factories import (
    START,
    FakeClock,
    ingest,
    journeys_copy,
    make_settings,
    open_runtime,
    release_story,
    signup,
    stored,
)

STORY = "wedding-story"


class Versions:
    """The fixture journeys in a folder of their own, rewritten version by version."""

    def __init__(self, database_url: str, tmp_path: Path, clock: FakeClock) -> None:
        self.folder = journeys_copy(tmp_path)
        self.settings = make_settings(database_url, tmp_path, journeys_dir=self.folder)
        self.clock = clock

    def runtime(self) -> AbstractContextManager[Runtime]:
        """The service on the folder as it is now."""
        return open_runtime(self.settings, self.clock)

    def release(self, version: str, *, after: str) -> None:
        release_story(self.folder, version, after=after)


@pytest.fixture
def versions(database_url: str, tmp_path: Path, clock: FakeClock) -> Versions:
    return Versions(database_url, tmp_path, clock)


def _one(runtime: Runtime, contact_id: str) -> Enrollment:
    [enrollment] = stored(runtime, Enrollment, contact_id=contact_id)
    return enrollment


def _migrate(runtime: Runtime, **body: object) -> dict[str, object]:
    report = migrate_journey(runtime, journey_id=STORY, body=MigrateIn.model_validate(body))
    return report.model_dump()


def test_from_version_migrates_only_that_version(versions: Versions) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
    versions.release("2", after="1h")
    with versions.runtime() as runtime:
        bea = ingest(runtime, signup("bea@example.com")).contact_id
    versions.release("3", after="2h")
    with versions.runtime() as runtime:
        dry = _migrate(runtime)
        assert dry["migrated"] == {"1:welcome -> welcome": 1, "2:welcome -> welcome": 1}
        only_one = _migrate(runtime, dry_run=False, from_version="1")
        assert only_one == {
            "journey": STORY,
            "to_version": "3",
            "dry_run": False,
            "migrated": {"1:welcome -> welcome": 1},
            "unmapped": {},
        }
        assert (_one(runtime, ava).version, _one(runtime, bea).version) == ("3", "2")
        assert _migrate(runtime, dry_run=False, from_version="1")["migrated"] == {}
        assert _migrate(runtime, dry_run=False)["migrated"] == {"2:welcome -> welcome": 1}
        assert _one(runtime, bea).version == "3"


def test_a_map_onto_stages_the_version_lacks_is_refused_naming_them(versions: Versions) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
    versions.release("2", after="1h")
    with versions.runtime() as runtime:
        with pytest.raises(InvalidInput) as raised:
            _migrate(
                runtime,
                dry_run=False,
                stage_map={"welcome": "zeta", "favors": "alpha", "thank_you": "done"},
            )
        assert raised.value.field == "stage_map"
        assert raised.value.message == "version 2 of 'wedding-story' has no stage alpha, zeta"
        assert _one(runtime, ava).version == "1"


def test_migrating_an_unknown_journey_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="no-such-journey"):
        migrate_journey(runtime, journey_id="no-such-journey", body=MigrateIn())


def test_enrollments_on_the_current_version_or_ended_are_left_out(versions: Versions) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
        bea = ingest(runtime, signup("bea@example.com")).contact_id
        exit_journey(runtime, contact_id=bea, journey_id=STORY)
    versions.release("2", after="1h")
    with versions.runtime() as runtime:
        cleo = ingest(runtime, signup("cleo@example.com")).contact_id
        assert _migrate(runtime, dry_run=False)["migrated"] == {"1:welcome -> welcome": 1}
        assert [_one(runtime, c).version for c in (ava, bea, cleo)] == ["2", "1", "2"]
        assert _one(runtime, bea).status == "exited"


def test_adopting_keeps_her_time_in_the_stage_and_her_message(versions: Versions) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
        before = _one(runtime, ava)
    versions.release("2", after="1s")
    versions.clock.advance(seconds=2)
    with versions.runtime() as runtime:
        assert _migrate(runtime, dry_run=False)["migrated"] == {"1:welcome -> welcome": 1}
        after = _one(runtime, ava)
        assert (after.version, after.stage, after.status) == ("2", "welcome", "active")
        assert (after.visit, after.entered_at, after.started_at) == (1, START, START)
        # The new timer counts from when she entered: already due, fired by the next run.
        assert after.next_due_at == START + timedelta(seconds=1)
        assert after.id == before.id and after.ended_at is None
        [message] = stored(runtime, Message, contact_id=ava)
        assert (message.stage, message.visit, message.status) == ("welcome", 1, "pending")
        moves = sorted(stored(runtime, TransitionRecord, contact_id=ava), key=lambda t: t.seq)
        assert [(t.version, t.from_stage, t.to_stage, t.trigger, t.seq) for t in moves] == [
            ("1", None, "welcome", "entry:web.form_submitted", 1),
            ("2", "welcome", "welcome", "migrate:1->2", 2),
        ]
        assert moves[-1].at == START + timedelta(seconds=2)


def test_adopt_refuses_an_ended_or_vanished_enrollment(versions: Versions) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
        enrollment_id = _one(runtime, ava).id
    versions.release("2", after="1h")
    with versions.runtime() as runtime:
        current = runtime.journeys.current_of(STORY)
        exit_journey(runtime, contact_id=ava, journey_id=STORY)
        listed = ("1", "welcome")
        assert not adopt(runtime, current, enrollment_id, ava, listed=listed, stage="welcome")
        assert not adopt(runtime, current, "gone", ava, listed=listed, stage="welcome")
        ended = _one(runtime, ava)
        assert (ended.version, ended.status) == ("1", "exited")


def test_adopting_at_another_stage_cancels_the_unsent_message_of_the_stage_she_left(
    versions: Versions,
) -> None:
    with versions.runtime() as runtime:
        ava = ingest(runtime, signup()).contact_id
    versions.release("2", after="1h")
    with versions.runtime() as runtime:
        report = _migrate(runtime, dry_run=False, stage_map={"welcome": "done"})
        assert report["migrated"] == {"1:welcome -> done": 1}
        assert _one(runtime, ava).status == "completed"
        [message] = stored(runtime, Message, contact_id=ava)
        assert (message.stage, message.status) == ("welcome", "canceled")
        assert message.error == "contact left the stage before sending"
