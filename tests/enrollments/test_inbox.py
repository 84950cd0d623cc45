"""The inbox: stored once, applied once, in order within a lane, across appliers and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from service.catalog import repository as catalog_repo
from service.enrollments import inbox
from service.enrollments import repository as enrollments_repo
from service.errors import Conflict
from service.runtime import Runtime
from service.schemas import EventIn
from service.store.intake import InboxEvent
from service.store.models import Contact, Event
from tests.factories import FakeClock, event, ingest, make_settings, open_runtime, signup, stored

ROOT = Path(__file__).parents[2]


def _events(*bodies: dict[str, Any]) -> list[EventIn]:
    return [EventIn.model_validate(body) for body in bodies]


def _store(runtime: Runtime, *requests: list[EventIn]) -> list[list[inbox.Accepted] | Conflict]:
    return inbox.store_requests(runtime.db, list(requests), now=runtime.clock.now())


def _interleaved(lanes: int, per_lane: int, *, profile_every: int = 0) -> list[EventIn]:
    """Page views of `lanes` contacts, stored round-robin: lane order is not store order.
    Every `profile_every`-th view of hers also sets an attribute, so it is not quiet and
    applies one by one between the quiet ones."""
    return _events(
        *(
            event(
                "web.page_viewed",
                email=f"c{lane}@example.com",
                id=f"v{lane}-{n}",
                attributes={"views": n} if profile_every and n % profile_every == 0 else {},
            )
            for n in range(per_lane)
            for lane in range(lanes)
        )
    )


def test_stored_once_and_applied_once(runtime: Runtime) -> None:
    body = signup(id="s-1")
    (first,) = _store(runtime, _events(body))
    (again,) = _store(runtime, _events(body))
    assert isinstance(first, list) and isinstance(again, list)
    assert [a.status for a in first] == ["accepted"]
    assert [a.status for a in again] == ["duplicate"]
    assert again[0].inbox_id == first[0].inbox_id
    assert stored(runtime, Event) == []  # stored, not applied yet
    assert inbox.drain(runtime, limit=10, rounds=5) == 1
    assert len(stored(runtime, Event, event_id="s-1")) == 1
    (row,) = stored(runtime, InboxEvent)
    assert row.applied_at == runtime.clock.now() and row.error is None
    assert row.result is not None and row.result["enrolled"][0]["journey"] == "wedding-story"
    assert inbox.drain(runtime, limit=10, rounds=5) == 0


def test_a_request_reusing_an_id_for_another_type_stores_nothing(runtime: Runtime) -> None:
    _store(runtime, _events(event("email.opened", id="x-1")))
    good = _events(event("web.page_viewed", id="ok-1"))
    clash = _events(event("web.page_viewed", id="new-1"), event("email.clicked", id="x-1"))
    after_good, refused = _store(runtime, good, clash)
    assert isinstance(after_good, list) and after_good[0].status == "accepted"
    assert isinstance(refused, Conflict) and refused.message.startswith("events.1: event id")
    assert {row.event_id for row in stored(runtime, InboxEvent)} == {"x-1", "ok-1"}


def test_only_a_request_that_truly_clashes_is_refused(runtime: Runtime) -> None:
    _store(runtime, _events(event("web.page_viewed", id="old-1")))
    clashing = _events(event("web.page_viewed", id="new-1"), event("email.clicked", id="old-1"))
    # Clashes only with the refused request's "new-1", which is then never stored.
    innocent = _events(event("email.clicked", id="new-1"))
    refused, accepted = _store(runtime, clashing, innocent)
    assert isinstance(refused, Conflict)
    assert isinstance(accepted, list) and [a.status for a in accepted] == ["accepted"]
    (row,) = stored(runtime, InboxEvent, event_id="new-1")
    assert row.type == "email.clicked"


def test_an_event_a_defect_stops_is_kept_and_the_rest_apply(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = inbox.record_and_apply

    def failing(rt: Runtime, session: Any, seen: EventIn, **kwargs: Any) -> Any:
        if seen.id == "v0-1":
            raise KeyError("a defect")
        return original(rt, session, seen, **kwargs)

    monkeypatch.setattr(inbox, "record_and_apply", failing)
    _store(runtime, _interleaved(lanes=2, per_lane=3, profile_every=1))
    assert inbox.drain(runtime, limit=100, rounds=100) == 6
    (broken,) = stored(runtime, InboxEvent, event_id="v0-1")
    assert broken.error == {"code": "internal", "message": "the event could not be applied"}
    assert broken.body["id"] == "v0-1"  # kept, to see what failed
    assert len(stored(runtime, Event)) == 5  # her next event and the other lane applied
    (done,) = stored(runtime, InboxEvent, event_id="v0-2")
    assert done.body == {} and done.result is not None  # applied: her details are not kept


def test_one_lane_in_order_across_two_appliers(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url, tmp_path)
    applied: list[str] = []
    original = inbox.record_and_apply

    def recording(runtime: Runtime, session: Any, seen: EventIn, **kwargs: Any) -> Any:
        result = original(runtime, session, seen, **kwargs)
        time.sleep(0.001)  # give the other applier a chance to overtake
        applied.append(seen.id)
        return result

    original_quiet = inbox.record_quiet

    def recording_quiet(journeys: Any, session: Any, rows: Any, **kwargs: Any) -> set[int]:
        done = original_quiet(journeys, session, rows, **kwargs)
        time.sleep(0.001)
        applied.extend(row.event_id for row in rows if row.id in done)
        return done

    monkeypatch.setattr(inbox, "record_and_apply", recording)
    monkeypatch.setattr(inbox, "record_quiet", recording_quiet)
    with open_runtime(settings, clock) as first, open_runtime(settings, clock) as second:
        events = _interleaved(lanes=3, per_lane=12, profile_every=3)
        _store(first, events)

        def apply(runtime: Runtime) -> None:
            for _ in range(2000):
                if inbox.apply_pending(runtime, limit=4):
                    continue
                if not _pending(runtime):
                    return
                time.sleep(0.002)  # the other applier holds every pending lane

        threads = [threading.Thread(target=apply, args=(rt,)) for rt in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(applied) == sorted(e.id for e in events)  # each exactly once
        for lane in range(3):
            mine = [name for name in applied if name.startswith(f"v{lane}-")]
            assert mine == [f"v{lane}-{n}" for n in range(12)]
        assert len(stored(first, Event)) == len(events)


def _pending(runtime: Runtime) -> int:
    with runtime.db.session() as session:
        return catalog_repo.inbox_lag(session, now=runtime.clock.now())[0]


def test_a_lane_held_by_another_applier_is_left_whole(runtime: Runtime) -> None:
    if runtime.db.sqlite:
        pytest.skip("SQLite has one writer: no applier claims while another holds a lane")
    _store(runtime, _interleaved(lanes=2, per_lane=3))
    with runtime.db.write() as holder, runtime.db.write() as other:
        held = enrollments_repo.claim_inbox(holder, limit=1)
        assert [row.event_id for row in held] == ["v0-0"]
        # Lane c0's oldest is held, so its later rows are left too; lane c1 is free.
        rows = enrollments_repo.claim_inbox(other, limit=10)
        assert [row.event_id for row in rows] == ["v1-0", "v1-1", "v1-2"]


def test_a_row_held_elsewhere_ends_its_lanes_run(runtime: Runtime) -> None:
    if runtime.db.sqlite:
        pytest.skip("SQLite has one writer: no applier claims while another holds a lane")
    _store(runtime, _interleaved(lanes=1, per_lane=3))
    with ExitStack() as first, ExitStack() as second:
        holder = first.enter_context(runtime.db.write())
        assert [row.event_id for row in enrollments_repo.claim_inbox(holder, limit=1)] == ["v0-0"]
        other = second.enter_context(runtime.db.write())
        # It locks v0-1 and drops it (its lane's oldest is held), keeping the lock.
        assert enrollments_repo.claim_inbox(other, limit=1) == []
        first.close()  # v0-0 is free again; v0-1 is still locked
        with runtime.db.write() as third:
            rows = enrollments_repo.claim_inbox(third, limit=10)
            assert [row.event_id for row in rows] == ["v0-0"]  # not v0-2 past the gap


def test_apply_stops_at_its_budget_and_resumes_in_order(runtime: Runtime) -> None:
    _store(runtime, _interleaved(lanes=1, per_lane=5))
    ticks = iter(range(100))
    applied = inbox.apply_pending(runtime, limit=10, budget=1.5, monotonic=lambda: next(ticks))
    assert applied == 2  # the first is always taken, the second at 1; at 2 the budget is spent
    assert inbox.drain(runtime, limit=10, rounds=5) == 3
    rows = sorted(stored(runtime, InboxEvent), key=lambda row: row.id or 0)
    assert all(row.applied_at is not None for row in rows)


def test_an_event_that_cannot_apply_keeps_its_error(runtime: Runtime) -> None:
    ingest(runtime, event("email.opened", id="dup-1"))  # recorded without the inbox
    _store(runtime, _events(event("email.clicked", id="dup-1")))
    assert inbox.drain(runtime, limit=10, rounds=5) == 1
    (row,) = stored(runtime, InboxEvent)
    assert row.error is not None and row.error["code"] == "conflict" and row.result is None
    (accepted,) = _store(runtime, _events(event("email.clicked", id="dup-1")))
    assert isinstance(accepted, list)
    with pytest.raises(Conflict, match="already used"):
        inbox.wait_for(runtime, accepted, seconds=1)


def test_wait_for_gives_up_when_her_lane_stays_held(runtime: Runtime) -> None:
    (accepted,) = _store(runtime, _events(signup(id="w-1")))
    assert isinstance(accepted, list)
    moments = iter([0.0, 0.5, 2.0])
    with runtime.db.write() as session:  # her event, as if another applier held its lane
        session.execute(update(InboxEvent).values(lane="elsewhere"))
    waited = inbox.wait_for(
        runtime, accepted, seconds=1, sleep=lambda _s: None, monotonic=lambda: next(moments)
    )
    assert waited is None
    assert stored(runtime, Event) == []


def test_applied_rows_are_forgotten_after_retention(runtime: Runtime, clock: FakeClock) -> None:
    _store(runtime, _events(event("web.page_viewed", id="old-1")))
    inbox.drain(runtime, limit=10, rounds=2)
    clock.advance(hours=73)
    _store(runtime, _events(event("web.page_viewed", id="new-1")))
    with runtime.db.write() as session:
        before = clock.now() - timedelta(hours=72)
        assert enrollments_repo.forget_applied(session, before=before, limit=100) == 1
    assert [row.event_id for row in stored(runtime, InboxEvent)] == ["new-1"]
    # Redelivered past retention, it is accepted again and found a duplicate when applied.
    _store(runtime, _events(event("web.page_viewed", id="old-1")))
    inbox.drain(runtime, limit=10, rounds=2)
    (again,) = stored(runtime, InboxEvent, event_id="old-1")
    assert again.result is not None and again.result["status"] == "duplicate"
    assert len(stored(runtime, Event, event_id="old-1")) == 1


_APPLIER = """
import sys, time
from service.clock import SystemClock
from service.config import Settings
from service.catalog import repository as catalog_repo
from service.enrollments import inbox
from service.runtime import build_runtime

original = inbox.record_and_apply
def slow(runtime, session, event, **kwargs):
    result = original(runtime, session, event, **kwargs)
    open(sys.argv[1], "w").close()  # mid-batch: effects written, not committed
    time.sleep(0.2)
    return result
inbox.record_and_apply = slow
runtime = build_runtime(Settings(_env_file=None), SystemClock())
inbox.apply_pending(runtime, limit=100, budget=60)
"""


def test_a_killed_applier_loses_and_doubles_nothing(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url, tmp_path)
    with open_runtime(settings, clock) as runtime:
        _store(runtime, _interleaved(lanes=2, per_lane=5))
        marker = tmp_path / "started"
        env = {
            **os.environ,
            "NURTURE_DATABASE_URL": database_url,
            "NURTURE_JOURNEYS_DIR": str(settings.journeys_dir),
            "NURTURE_CONTENT_DIR": str(settings.content_dir),
            "NURTURE_SECRET_KEY": "test-secret-key",
        }
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_APPLIER), str(marker)], cwd=ROOT, env=env
        )
        try:
            for _ in range(600):
                if marker.exists() or child.poll() is not None:
                    break
                time.sleep(0.05)
            assert marker.exists(), "the applier never started a batch"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        assert stored(runtime, Event) == []  # its batch never committed
        assert inbox.drain(runtime, limit=100, rounds=100) == 10
        assert len(stored(runtime, Event)) == 10
        assert len(stored(runtime, Contact)) == 2
        with runtime.db.session() as session:
            pending = session.exec(
                select(InboxEvent).where(InboxEvent.applied_at == None)  # noqa: E711
            ).all()
        assert pending == []
