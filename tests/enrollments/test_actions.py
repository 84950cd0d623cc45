"""Operator actions (enrol, move, exit) and the scheduler's claimed timers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.delivery import outbox
from service.enrollments import actions
from service.enrollments import repository as enrollments_repo
from service.enrollments.actions import enroll, exit_journey, move, run_timer, run_timers
from service.enrollments.unit import Outcome, Work
from service.errors import Conflict, InvalidInput, NotFound
from service.runtime import Runtime
from service.store.models import Enrollment, Message, TransitionRecord
from tests.factories import START, add_contact, stored

STORY = "wedding-story"


@pytest.fixture
def ava(runtime: Runtime) -> str:
    return add_contact(runtime, email="ava@example.com", phone="+15555550100").id


def _enrollments(runtime: Runtime, contact_id: str) -> list[Enrollment]:
    return sorted(stored(runtime, Enrollment, contact_id=contact_id), key=lambda e: e.started_at)


def _messages(runtime: Runtime, contact_id: str) -> list[tuple[str, int, str, str | None]]:
    rows = sorted(stored(runtime, Message, contact_id=contact_id), key=lambda m: m.visit)
    return [(m.stage, m.visit, m.status, m.error) for m in rows]


def test_enroll_starts_the_current_version(runtime: Runtime, ava: str) -> None:
    outcome = enroll(runtime, contact_id=ava, journey_id=STORY)
    assert [(e.journey, e.version, e.stage, e.status) for e in outcome.enrolled] == [
        (STORY, "1", "welcome", "active")
    ]
    assert [(m.from_, m.to, m.trigger) for m in outcome.moved] == [(None, "welcome", "entry")]
    [enrollment] = _enrollments(runtime, ava)
    assert enrollment.next_due_at == START + timedelta(seconds=3)
    assert _messages(runtime, ava) == [("welcome", 1, "pending", None)]


def test_enroll_refuses_while_active(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    with pytest.raises(Conflict, match="already active"):
        enroll(runtime, contact_id=ava, journey_id=STORY)
    assert len(_enrollments(runtime, ava)) == 1
    # Another journey is not this one.
    enroll(runtime, contact_id=ava, journey_id="promo-always")
    # Once she is out, an operator may enrol her again, whatever the re-entry policy says.
    exit_journey(runtime, contact_id=ava, journey_id=STORY)
    runtime.clock.advance(seconds=1)
    enroll(runtime, contact_id=ava, journey_id=STORY)
    story = [e for e in _enrollments(runtime, ava) if e.journey_id == STORY]
    assert [e.status for e in story] == ["exited", "active"]


def test_enroll_unknown_journey_or_contact_is_not_found(runtime: Runtime, ava: str) -> None:
    with pytest.raises(NotFound, match="no-such-journey"):
        enroll(runtime, contact_id=ava, journey_id="no-such-journey")
    with pytest.raises(NotFound, match="no-such-contact"):
        enroll(runtime, contact_id="no-such-contact", journey_id=STORY)
    assert stored(runtime, Enrollment) == []


def test_move_to_an_unknown_stage_names_the_stage(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    with pytest.raises(InvalidInput) as raised:
        move(runtime, contact_id=ava, journey_id=STORY, stage="nowhere")
    assert raised.value.field == "stage"
    assert "nowhere" in raised.value.message
    [enrollment] = _enrollments(runtime, ava)
    assert (enrollment.stage, enrollment.visit) == ("welcome", 1)
    assert len(stored(runtime, TransitionRecord, contact_id=ava)) == 1


def test_move_goes_to_the_stage_and_sends_its_message(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    runtime.clock.advance(seconds=1)
    outcome = move(runtime, contact_id=ava, journey_id=STORY, stage="thank_you")
    assert [(m.from_, m.to, m.trigger) for m in outcome.moved] == [
        ("welcome", "thank_you", "manual")
    ]
    [enrollment] = _enrollments(runtime, ava)
    assert (enrollment.stage, enrollment.visit) == ("thank_you", 2)
    assert enrollment.next_due_at == START + timedelta(seconds=3)  # its own 2s timer
    assert _messages(runtime, ava) == [
        ("welcome", 1, "canceled", "contact left the stage before sending"),
        ("thank_you", 2, "pending", None),
    ]


def test_move_or_exit_without_an_active_enrollment_is_not_found(runtime: Runtime, ava: str) -> None:
    with pytest.raises(NotFound):
        move(runtime, contact_id=ava, journey_id=STORY, stage="favors")
    enroll(runtime, contact_id=ava, journey_id=STORY)
    exit_journey(runtime, contact_id=ava, journey_id=STORY)
    with pytest.raises(NotFound):
        exit_journey(runtime, contact_id=ava, journey_id=STORY)
    with pytest.raises(NotFound):
        move(runtime, contact_id=ava, journey_id=STORY, stage="favors")


def test_exit_cancels_unsent_messages(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    with runtime.db.write() as session:
        [welcome] = outbox.contact_messages(session, contact_id=ava)
        welcome.status, welcome.sent_at = "sent", START
        session.add(welcome)
    move(runtime, contact_id=ava, journey_id=STORY, stage="favors")
    runtime.clock.advance(minutes=1)
    outcome = exit_journey(runtime, contact_id=ava, journey_id=STORY)
    assert [(m.from_, m.to, m.trigger) for m in outcome.moved] == [
        ("favors", "favors", "exit:manual")
    ]
    assert _messages(runtime, ava) == [
        ("welcome", 1, "sent", None),
        ("favors", 2, "canceled", "enrollment exited"),
    ]
    [enrollment] = _enrollments(runtime, ava)
    assert (enrollment.status, enrollment.next_due_at) == ("exited", None)
    assert enrollment.ended_at == START + timedelta(minutes=1)


def _claim(runtime: Runtime, enrollment_id: str) -> None:
    with runtime.db.write() as session:
        enrollment = enrollments_repo.get_enrollment(session, enrollment_id=enrollment_id)
        assert enrollment is not None
        enrollment.claimed_until = runtime.clock.now() + timedelta(minutes=1)
        session.add(enrollment)


def test_run_timer_fires_a_due_timer_and_releases_the_claim(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    runtime.clock.advance(seconds=3)
    with runtime.db.write() as session:
        claimed = enrollments_repo.claim_due_enrollments(
            session,
            now=runtime.clock.now(),
            lease_until=runtime.clock.now() + timedelta(minutes=1),
            limit=10,
        )
    [(enrollment_id, contact_id)] = claimed
    assert contact_id == ava
    outcome = run_timer(
        runtime, enrollment_id=enrollment_id, contact_id=ava, now=runtime.clock.now()
    )
    assert [(m.from_, m.to) for m in outcome.moved] == [("welcome", "favors")]
    [enrollment] = _enrollments(runtime, ava)
    assert (enrollment.stage, enrollment.claimed_until) == ("favors", None)


def test_run_timer_releases_the_claim_when_not_due(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    [enrollment] = _enrollments(runtime, ava)
    _claim(runtime, enrollment.id)
    runtime.clock.advance(seconds=1)  # the 3s timer is not due yet
    outcome = run_timer(
        runtime, enrollment_id=enrollment.id, contact_id=ava, now=runtime.clock.now()
    )
    assert outcome.moved == []
    [after] = _enrollments(runtime, ava)
    assert (after.stage, after.claimed_until) == ("welcome", None)
    assert after.next_due_at == START + timedelta(seconds=3)


def test_run_timer_releases_the_claim_of_an_ended_enrollment(runtime: Runtime, ava: str) -> None:
    enroll(runtime, contact_id=ava, journey_id=STORY)
    [enrollment] = _enrollments(runtime, ava)
    _claim(runtime, enrollment.id)
    exit_journey(runtime, contact_id=ava, journey_id=STORY)
    runtime.clock.advance(seconds=10)
    outcome = run_timer(
        runtime, enrollment_id=enrollment.id, contact_id=ava, now=runtime.clock.now()
    )
    assert outcome.moved == []
    [after] = _enrollments(runtime, ava)
    assert (after.status, after.stage, after.claimed_until) == ("exited", "welcome", None)


def test_run_timer_of_a_vanished_enrollment_does_nothing(runtime: Runtime, ava: str) -> None:
    outcome = run_timer(runtime, enrollment_id="gone", contact_id=ava, now=START)
    assert (outcome.moved, outcome.enrolled) == ([], [])
    with pytest.raises(NotFound):
        run_timer(runtime, enrollment_id="gone", contact_id="no-such-contact", now=START)


def test_run_timers_fires_a_batch_when_one_timer_fails(
    runtime: Runtime, ava: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bea = add_contact(runtime, email="bea@example.com").id
    cleo = add_contact(runtime, email="cleo@example.com").id
    for contact_id in (ava, bea, cleo):
        enroll(runtime, contact_id=contact_id, journey_id=STORY)
    runtime.clock.advance(seconds=3)
    lease = runtime.clock.now() + timedelta(minutes=1)
    with runtime.db.write() as session:
        claimed = enrollments_repo.claim_due_enrollments(
            session, now=runtime.clock.now(), lease_until=lease, limit=10
        )
    real_fire = actions.fire_due_timer

    def fire(unit: Work, **kwargs: Any) -> Outcome:
        real_fire(unit, **kwargs)  # her move is written, then undone with her savepoint
        if unit.contact.id == bea:
            raise RuntimeError("a bug in one timer")
        return unit.outcome

    monkeypatch.setattr(actions, "fire_due_timer", fire)
    outcomes = run_timers(runtime, claimed=claimed, now=runtime.clock.now())
    [failed] = [e.id for e in _enrollments(runtime, bea)]
    assert isinstance(outcomes[failed], RuntimeError)
    for contact_id in (ava, cleo):
        [enrollment] = _enrollments(runtime, contact_id)
        assert (enrollment.stage, enrollment.claimed_until) == ("favors", None)
        assert [(m.from_, m.to) for m in outcomes[enrollment.id].moved] == [("welcome", "favors")]
    [kept] = _enrollments(runtime, bea)
    assert (kept.stage, kept.claimed_until) == ("welcome", lease)  # retried once it runs out
    assert [t.to_stage for t in stored(runtime, TransitionRecord, contact_id=bea)] == ["welcome"]
    assert [m[0] for m in _messages(runtime, bea)] == ["welcome"]
    monkeypatch.setattr(actions, "fire_due_timer", real_fire)
    runtime.clock.advance(minutes=2)
    with runtime.db.write() as session:
        again = enrollments_repo.claim_due_enrollments(
            session, now=runtime.clock.now(), lease_until=lease + timedelta(minutes=5), limit=10
        )
    assert again == [(failed, bea)]
    outcomes = run_timers(runtime, claimed=again, now=runtime.clock.now())
    [(_, outcome)] = outcomes.items()
    assert not isinstance(outcome, Exception) and [m.to for m in outcome.moved] == ["favors"]
