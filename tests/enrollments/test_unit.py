"""The unit of work: one engine decision persisted (state, numbered history, the outbox with
stale messages canceled), timers rescheduled and fired when due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from service.contacts.identity import locked_contact
from service.delivery import outbox
from service.engine.core import CompiledJourney, Decision, EventView
from service.enrollments import repository as enrollments_repo
from service.enrollments.unit import (
    Outcome,
    Work,
    apply_decision,
    contact_view,
    enrollment_state,
    fire_due_timer,
    reschedule,
    start_enrollment,
)
from service.runtime import Runtime
from service.store.models import Contact, Enrollment, Message, TransitionRecord
from tests.factories import START, add_contact, stored

STORY = "wedding-story"
# The favors stage waits until 30 days before the wedding, at 10:00 (UTC by default).
WEDDING = {"first_name": "Ava", "wedding_date": "2026-06-20"}
FAVORS_DUE = datetime(2026, 5, 21, 10, 0, tzinfo=UTC)

Decide = Callable[[CompiledJourney, Enrollment, Contact, datetime], Decision]


def _start(runtime: Runtime, contact_id: str, *, event_row_id: str | None = None) -> Outcome:
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        compiled = runtime.journeys.current_of(STORY)
        now = runtime.clock.now()
        return start_enrollment(
            Work(session, contact, now),
            compiled=compiled,
            decision=compiled.start(contact_view(contact), now=now),
            event_row_id=event_row_id,
        )


def _apply(runtime: Runtime, contact_id: str, decide: Decide) -> Outcome:
    """Decide on her one enrollment and persist the decision, as each unit of work does."""
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        [enrollment] = enrollments_repo.contact_enrollments(session, contact_id=contact_id)
        compiled = runtime.journeys.get(enrollment.journey_id, enrollment.version)
        now = runtime.clock.now()
        return apply_decision(
            Work(session, contact, now),
            enrollment=enrollment,
            decision=decide(compiled, enrollment, contact, now),
        )


def _clock(compiled: CompiledJourney, e: Enrollment, c: Contact, now: datetime) -> Decision:
    return compiled.on_clock(enrollment_state(e), contact_view(c), now=now)


def _move(stage: str) -> Decide:
    def decide(compiled: CompiledJourney, e: Enrollment, c: Contact, now: datetime) -> Decision:
        return compiled.move_to(enrollment_state(e), contact_view(c), stage, now=now)

    return decide


def _exit(reason: str) -> Decide:
    def decide(compiled: CompiledJourney, e: Enrollment, c: Contact, now: datetime) -> Decision:
        return compiled.exit(enrollment_state(e), now=now, reason=reason)

    return decide


def _event(type: str, **properties: object) -> Decide:
    def decide(compiled: CompiledJourney, e: Enrollment, c: Contact, now: datetime) -> Decision:
        seen = EventView(type=type, time=now, properties=properties, id="e-1", source="test")
        return compiled.on_event(enrollment_state(e), contact_view(c), seen, now=now)

    return decide


def _enrollment(runtime: Runtime, contact_id: str) -> Enrollment:
    [enrollment] = stored(runtime, Enrollment, contact_id=contact_id)
    return enrollment


def _messages(runtime: Runtime, contact_id: str) -> list[tuple[str, str, str | None]]:
    rows = sorted(stored(runtime, Message, contact_id=contact_id), key=lambda m: m.visit)
    return [(m.idempotency_key, m.status, m.error) for m in rows]


def _moves(runtime: Runtime, contact_id: str) -> list[tuple[str | None, str, str, int]]:
    rows = sorted(stored(runtime, TransitionRecord, contact_id=contact_id), key=lambda t: t.seq)
    return [(t.from_stage, t.to_stage, t.trigger, t.seq) for t in rows]


@pytest.fixture
def ava(runtime: Runtime) -> str:
    return add_contact(runtime, email="ava@example.com", attributes=WEDDING).id


def test_start_stores_the_enrollment_its_entry_and_its_message(runtime: Runtime, ava: str) -> None:
    outcome = _start(runtime, ava)
    enrollment = _enrollment(runtime, ava)
    assert (enrollment.journey_id, enrollment.version, enrollment.stage) == (STORY, "1", "welcome")
    assert (enrollment.status, enrollment.visit, enrollment.ended_at) == ("active", 1, None)
    assert (enrollment.started_at, enrollment.entered_at) == (START, START)
    assert enrollment.next_due_at == START + timedelta(seconds=3)
    assert [(e.journey, e.stage, e.status) for e in outcome.enrolled] == [
        (STORY, "welcome", "active")
    ]
    assert [(m.from_, m.to, m.trigger) for m in outcome.moved] == [(None, "welcome", "entry")]
    [message] = stored(runtime, Message, contact_id=ava)
    assert message.idempotency_key == f"{enrollment.id}:welcome:1"
    assert (message.channel, message.template, message.status) == (
        "email",
        "story/welcome",
        "pending",
    )
    assert (message.due_at, message.created_at, message.attempts) == (START, START, 0)
    assert (message.enrollment_id, message.version, message.event_id) == (enrollment.id, "1", None)


def test_transitions_are_numbered_in_order_per_contact(runtime: Runtime, ava: str) -> None:
    bea = add_contact(runtime, email="bea@example.com").id
    _start(runtime, ava)
    _start(runtime, bea)
    runtime.clock.advance(seconds=3)
    assert [m.to for m in _apply(runtime, ava, _clock).moved] == ["favors"]
    runtime.clock.advance(seconds=1)
    _apply(runtime, ava, _move("thank_you"))
    assert _moves(runtime, ava) == [
        (None, "welcome", "entry", 1),
        ("welcome", "favors", "after:3s", 2),
        ("favors", "thank_you", "manual", 3),
    ]
    assert [
        t.at for t in sorted(stored(runtime, TransitionRecord, contact_id=ava), key=lambda t: t.seq)
    ] == [
        START,
        START + timedelta(seconds=3),
        START + timedelta(seconds=4),
    ]
    assert stored(runtime, Contact, id=ava)[0].history_seq == 3
    assert _moves(runtime, bea) == [(None, "welcome", "entry", 1)]


def test_each_stage_visit_queues_its_message_and_cancels_the_unsent_one(
    runtime: Runtime, ava: str
) -> None:
    _start(runtime, ava)
    enrollment_id = _enrollment(runtime, ava).id
    _apply(runtime, ava, _move("welcome"))  # the same stage again is a new visit
    left = "contact left the stage before sending"
    assert _messages(runtime, ava) == [
        (f"{enrollment_id}:welcome:1", "canceled", left),
        (f"{enrollment_id}:welcome:2", "pending", None),
    ]
    runtime.clock.advance(seconds=3)
    _apply(runtime, ava, _clock)
    assert _messages(runtime, ava)[1:] == [
        (f"{enrollment_id}:welcome:2", "canceled", left),
        (f"{enrollment_id}:favors:3", "pending", None),
    ]
    [favors] = stored(runtime, Message, idempotency_key=f"{enrollment_id}:favors:3")
    assert favors.due_at == START + timedelta(seconds=3)


def test_a_sent_message_is_never_canceled(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava)
    with runtime.db.write() as session:
        [message] = outbox.contact_messages(session, contact_id=ava)
        message.status, message.sent_at = "sent", START
        session.add(message)
    _apply(runtime, ava, _move("favors"))
    _apply(runtime, ava, _exit("manual"))
    assert [
        (m.stage, m.status) for m in sorted(stored(runtime, Message), key=lambda m: m.visit)
    ] == [
        ("welcome", "sent"),
        ("favors", "canceled"),
    ]


def test_a_decision_without_a_visit_change_keeps_the_pending_message(
    runtime: Runtime, ava: str
) -> None:
    _start(runtime, ava)
    runtime.clock.advance(seconds=1)
    outcome = _apply(runtime, ava, _event("web.page_viewed", page="x"))  # nothing moves
    assert outcome.moved == []
    assert [status for _, status, _ in _messages(runtime, ava)] == ["pending"]
    assert _enrollment(runtime, ava).next_due_at == START + timedelta(seconds=3)


@pytest.mark.parametrize(
    ("decide", "status", "trigger"),
    [
        (_exit("manual"), "exited", "exit:manual"),
        (_exit("restart"), "restarted", "exit:restart"),
        (_event("email.unsubscribed"), "exited", "exit:email.unsubscribed"),
        (
            _event("order.completed", categories=["thank-you-cards"]),
            "converted",
            "goal:order.completed",
        ),
    ],
)
def test_ending_early_cancels_pending_messages_and_sets_ended_at_once(
    runtime: Runtime, ava: str, decide: Decide, status: str, trigger: str
) -> None:
    _start(runtime, ava)
    runtime.clock.advance(seconds=1)
    outcome = _apply(runtime, ava, decide)
    assert [(m.from_, m.to, m.trigger) for m in outcome.moved] == [("welcome", "welcome", trigger)]
    ended = _enrollment(runtime, ava)
    assert (ended.status, ended.next_due_at) == (status, None)
    assert ended.ended_at == START + timedelta(seconds=1)
    assert [(s, e) for _, s, e in _messages(runtime, ava)] == [("canceled", f"enrollment {status}")]
    runtime.clock.advance(hours=1)
    assert _apply(runtime, ava, _event("email.clicked", link="favors")).moved == []
    assert _enrollment(runtime, ava).ended_at == START + timedelta(seconds=1)
    assert _enrollment(runtime, ava).status == status


def test_completing_sets_ended_at(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava)
    _apply(runtime, ava, _move("thank_you"))
    runtime.clock.advance(seconds=2)
    outcome = _apply(runtime, ava, _clock)
    assert [(m.from_, m.to) for m in outcome.moved] == [("thank_you", "done")]
    done = _enrollment(runtime, ava)
    assert (done.stage, done.status, done.visit, done.next_due_at) == ("done", "completed", 3, None)
    assert done.ended_at == START + timedelta(seconds=2)


def test_messages_carry_the_event_that_started_them(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava, event_row_id="event-row-1")
    [message] = stored(runtime, Message, contact_id=ava)
    assert message.event_id == "event-row-1"


def test_reschedule_follows_a_new_date(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava)
    _apply(runtime, ava, _move("favors"))
    assert _enrollment(runtime, ava).next_due_at == FAVORS_DUE

    def change(attributes: dict[str, object]) -> None:
        with runtime.db.write() as session:
            contact = locked_contact(session, ava)
            contact.attributes = attributes
            session.add(contact)
            reschedule(session, journeys=runtime.journeys, contact=contact)

    change({"wedding_date": "2026-09-12"})
    assert _enrollment(runtime, ava).next_due_at == datetime(2026, 8, 13, 10, 0, tzinfo=UTC)
    change({})  # no date: the stage waits for events only
    assert _enrollment(runtime, ava).next_due_at is None
    change({"wedding_date": "2026-03-20"})  # 30 days before is past: if_past skip
    assert _enrollment(runtime, ava).next_due_at is None
    assert _enrollment(runtime, ava).stage == "favors"  # rescheduling never moves her


def _fire(runtime: Runtime, contact_id: str, *, due_by: datetime | None = None) -> Outcome:
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        [enrollment] = enrollments_repo.contact_enrollments(session, contact_id=contact_id)
        return fire_due_timer(
            Work(session, contact, runtime.clock.now()),
            enrollment=enrollment,
            compiled=runtime.journeys.get(STORY, "1"),
            due_by=due_by,
        )


def test_fire_due_timer_waits_until_due(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava)
    runtime.clock.advance(seconds=2)
    assert _fire(runtime, ava).moved == []
    assert _enrollment(runtime, ava).stage == "welcome"
    runtime.clock.advance(seconds=1)
    assert [(m.from_, m.to, m.trigger) for m in _fire(runtime, ava).moved] == [
        ("welcome", "favors", "after:3s")
    ]
    moved = _enrollment(runtime, ava)
    assert (moved.stage, moved.visit, moved.next_due_at) == ("favors", 2, FAVORS_DUE)


def test_fire_due_timer_respects_due_by(runtime: Runtime, ava: str) -> None:
    _start(runtime, ava)
    runtime.clock.advance(seconds=10)
    # An event that happened 2s after entry: the 3s timer was not due by then.
    assert _fire(runtime, ava, due_by=START + timedelta(seconds=2)).moved == []
    assert (_enrollment(runtime, ava).stage, len(_moves(runtime, ava))) == ("welcome", 1)
    # An event from 3s after entry: the timer came first.
    outcome = _fire(runtime, ava, due_by=START + timedelta(seconds=3))
    assert [m.to for m in outcome.moved] == ["favors"]
    assert _moves(runtime, ava)[-1] == ("welcome", "favors", "after:3s", 2)
    [move] = [t for t in stored(runtime, TransitionRecord, contact_id=ava) if t.seq == 2]
    assert move.at == START + timedelta(seconds=10)  # it fires now, when it is seen


def test_fire_due_timer_without_a_timer_does_nothing(runtime: Runtime) -> None:
    undated = add_contact(runtime, email="cleo@example.com").id
    _start(runtime, undated)
    _apply(runtime, undated, _move("favors"))
    assert _enrollment(runtime, undated).next_due_at is None
    runtime.clock.advance(days=400)
    assert _fire(runtime, undated).moved == []
    assert _enrollment(runtime, undated).clock_checked_at is None
