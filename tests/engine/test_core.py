"""The pure engine: triggers, guards, windows, `at` policies, exit, goal, loops."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from service.engine.core import (
    MAX_IDLE_MODELS,
    CompiledJourney,
    ContactView,
    EnrollmentState,
    EventView,
    Status,
)
from service.engine.groups import in_holdout
from service.engine.loader import compile_text
from service.errors import JourneyErrors
from tests.engine.conftest import utc

SIGNUP = EventView(
    type="web.form_submitted", time=utc(2027, 1, 4, 15), properties={"form": "wedding-signup"}
)


def _event(kind: str, at: object, **props: object) -> EventView:
    return EventView(type=kind, time=at, properties=props)  # type: ignore[arg-type]


def test_start_enters_initial_stage_and_orders_the_welcome_email(
    mini: CompiledJourney, bride: ContactView
) -> None:
    now = utc(2027, 1, 4, 15)  # 10:00 in New York, inside the 09:00-20:00 window
    decision = mini.start(bride, now=now, event=SIGNUP)
    assert decision.state.stage == "welcome"
    assert decision.state.status is Status.ACTIVE
    assert [(c.from_stage, c.to_stage, c.trigger) for c in decision.changes] == [
        (None, "welcome", "entry:web.form_submitted")
    ]
    [message] = decision.messages
    assert (message.channel, message.template, message.due_at) == ("email", "mini/welcome", now)
    assert decision.next_due_at == now + timedelta(days=5)


def test_entry_guard_true_false(mini: CompiledJourney, bride: ContactView) -> None:
    assert mini.matches_entry(bride, SIGNUP) == (True, ())
    other = _event("web.form_submitted", SIGNUP.time, form="newsletter")
    assert mini.matches_entry(bride, other) == (False, ())
    assert mini.matches_entry(bride, _event("web.page_viewed", SIGNUP.time)) == (False, ())


def test_event_trigger_with_guard_moves_only_when_guard_holds(
    mini: CompiledJourney, bride: ContactView
) -> None:
    state = mini.start(bride, now=SIGNUP.time).state
    later = SIGNUP.time + timedelta(hours=2)
    stay = mini.on_event(
        state, bride, _event("email.clicked", later, link="invitations"), now=later
    )
    assert stay.state == state and not stay.changes
    move = mini.on_event(state, bride, _event("email.clicked", later, link="favors"), now=later)
    assert move.state.stage == "favors" and move.state.visit == 2
    assert move.changes[0].trigger == "event:email.clicked"
    assert move.messages[0].template == "mini/favors"


def test_guard_that_errors_counts_as_false_and_is_reported(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: g
entry: {event: web.form_submitted}
initial: a
stages:
  a:
    on:
      - {event: web.page_viewed, when: "event.properties.n > 3", to: b}
      - {after: 1d, to: b}
  b: {final: true}
""",
        path="g.yaml",
    )
    state = journey.start(bride, now=SIGNUP.time).state
    decision = journey.on_event(
        state, bride, _event("web.page_viewed", SIGNUP.time, n="x"), now=SIGNUP.time
    )
    assert decision.state.stage == "a"
    assert len(decision.notes) == 1 and "guard 'event.properties.n > 3' failed" in decision.notes[0]


def test_after_timer_fires_at_its_time_and_not_before(
    mini: CompiledJourney, bride: ContactView
) -> None:
    state = mini.start(bride, now=SIGNUP.time).state
    early = mini.on_clock(state, bride, now=SIGNUP.time + timedelta(days=4, hours=23))
    assert early.state.stage == "welcome" and not early.changes
    due = mini.on_clock(early.state, bride, now=SIGNUP.time + timedelta(days=5))
    assert due.state.stage == "favors"
    assert due.changes[0].trigger == "after:5d"


def test_at_timer_uses_contact_date_time_and_timezone(
    mini: CompiledJourney, bride: ContactView
) -> None:
    state = mini.on_event(
        mini.start(bride, now=SIGNUP.time).state,
        bride,
        _event("email.clicked", SIGNUP.time, link="favors"),
        now=SIGNUP.time,
    ).state
    # 30 days before 2027-09-18 at 10:00 New York (EDT, UTC-4)
    assert mini.next_due(state, bride) == utc(2027, 8, 19, 14)
    paris = replace(bride, timezone="Europe/Paris")
    assert mini.next_due(state, paris) == utc(2027, 8, 19, 8)


def test_at_in_the_past_with_now_fires_immediately(mini: CompiledJourney) -> None:
    late = ContactView(
        id="c2", attributes={"first_name": "Bo", "wedding_date": "2027-01-20"}, timezone="UTC"
    )
    state = mini.start(late, now=SIGNUP.time).state
    decision = mini.on_event(
        state, late, _event("email.clicked", SIGNUP.time, link="favors"), now=SIGNUP.time
    )
    # favors' `at` (-30d) is already past: if_past now moves on at once to last_month.
    assert [c.to_stage for c in decision.changes] == ["favors", "last_month"]
    assert decision.state.stage == "last_month"
    assert decision.next_due_at == utc(2027, 1, 23, 10)


def test_at_in_the_past_with_skip_is_ignored(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: s
entry: {event: web.form_submitted}
initial: a
stages:
  a:
    on:
      - {at: {attribute: wedding_date, offset: -300d}, if_past: skip, to: early}
      - {after: 2d, to: late}
  early: {final: true}
  late: {final: true}
""",
        path="s.yaml",
    )
    state = journey.start(bride, now=SIGNUP.time).state
    assert journey.next_due(state, bride) == SIGNUP.time + timedelta(days=2)
    assert journey.on_clock(state, bride, now=SIGNUP.time + timedelta(days=2)).state.stage == "late"


def test_missing_date_attribute_disables_only_that_timer(mini: CompiledJourney) -> None:
    nodate = ContactView(id="c3", attributes={"first_name": "Cy"})
    state = mini.start(nodate, now=SIGNUP.time).state
    favors = mini.on_event(
        state, nodate, _event("email.clicked", SIGNUP.time, link="favors"), now=SIGNUP.time
    )
    assert favors.state.stage == "favors" and favors.next_due_at is None
    order = _event("order.completed", SIGNUP.time, categories=["favors"])
    assert mini.on_event(favors.state, nodate, order, now=SIGNUP.time).state.stage == "last_month"


def test_goal_converts_and_exit_rules_end_the_enrollment(
    mini: CompiledJourney, bride: ContactView
) -> None:
    state = mini.start(bride, now=SIGNUP.time).state
    goal = mini.on_event(
        state,
        bride,
        _event("order.completed", SIGNUP.time, categories=["thank-you-cards"]),
        now=SIGNUP.time,
    )
    assert (
        goal.state.status is Status.CONVERTED and goal.changes[0].trigger == "goal:order.completed"
    )
    assert goal.next_due_at is None
    out = mini.on_event(state, bride, _event("email.unsubscribed", SIGNUP.time), now=SIGNUP.time)
    assert out.state.status is Status.EXITED and out.changes[0].trigger == "exit:email.unsubscribed"
    keep = mini.on_event(
        state, bride, _event("sms.received", SIGNUP.time, body="hello"), now=SIGNUP.time
    )
    assert keep.state.status is Status.ACTIVE
    stop = mini.on_event(
        state, bride, _event("sms.received", SIGNUP.time, body="STOP"), now=SIGNUP.time
    )
    assert stop.state.status is Status.EXITED
    # An ended enrollment ignores everything.
    assert (
        mini.on_event(
            goal.state, bride, _event("email.clicked", SIGNUP.time, link="favors"), now=SIGNUP.time
        ).state
        == goal.state
    )


def test_timer_loop_resends_on_each_visit(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: loop
entry: {event: web.form_submitted}
initial: remind
stages:
  remind:
    send: {channel: sms, template: x/remind}
    on:
      - {after: 1w, to: remind}
      - {event: order.completed, to: done}
  done: {final: true}
""",
        path="loop.yaml",
    )
    state = journey.start(bride, now=SIGNUP.time).state
    visits = []
    for week in range(1, 4):
        decision = journey.on_clock(state, bride, now=SIGNUP.time + timedelta(weeks=week))
        state = decision.state
        visits.append((state.stage, state.visit, decision.messages[0].visit))
    assert visits == [("remind", 2, 2), ("remind", 3, 3), ("remind", 4, 4)]


def test_final_stage_completes(mini: CompiledJourney, bride: ContactView) -> None:
    state = EnrollmentState(
        "mini-wedding", mini.version, "thank_you", Status.ACTIVE, utc(2027, 9, 21, 14)
    )
    decision = mini.on_clock(state, bride, now=utc(2027, 10, 21, 14))
    assert decision.state.stage == "thank_you"  # the weekly loop fires first and restarts the stage
    done = mini.move_to(state, bride, "done", now=utc(2027, 10, 21, 14))
    assert done.state.status is Status.COMPLETED and done.changes[0].trigger == "manual"


def test_send_window_delays_message_to_local_morning(
    mini: CompiledJourney, bride: ContactView
) -> None:
    night = utc(2027, 1, 4, 3)  # 22:00 the day before in New York
    [message] = mini.start(bride, now=night).messages
    assert message.due_at == utc(2027, 1, 4, 14)  # 09:00 EST


def test_send_window_across_dst_change(mini: CompiledJourney, bride: ContactView) -> None:
    # 2027-03-14 is the US spring-forward day: 09:00 local is 13:00 UTC, not 14:00.
    night = utc(2027, 3, 14, 5)
    [message] = mini.start(bride, now=night).messages
    assert message.due_at == utc(2027, 3, 14, 13)


def test_manual_move_to_unknown_stage_raises(mini: CompiledJourney, bride: ContactView) -> None:
    state = mini.start(bride, now=SIGNUP.time).state
    with pytest.raises(KeyError):
        mini.move_to(state, bride, "nowhere", now=SIGNUP.time)


def test_restart_exit_marks_restarted(mini: CompiledJourney, bride: ContactView) -> None:
    state = mini.start(bride, now=SIGNUP.time).state
    assert mini.exit(state, now=SIGNUP.time, reason="restart").state.status is Status.RESTARTED
    assert mini.exit(state, now=SIGNUP.time).state.status is Status.EXITED


def test_message_carries_the_event_that_moved_the_contact(
    mini: CompiledJourney, bride: ContactView
) -> None:
    state = mini.start(bride, now=SIGNUP.time, event=SIGNUP).state
    click = _event("email.clicked", SIGNUP.time, link="favors")
    [message] = mini.on_event(state, bride, click, now=SIGNUP.time).messages
    assert message.event == click
    timer = mini.on_clock(state, bride, now=SIGNUP.time + timedelta(days=5))
    assert timer.messages[0].event is None


def test_webhook_sends_ignore_the_send_window(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: crm
entry: {event: web.form_submitted}
send_window: {start: "09:00", end: "17:00"}
initial: handoff
stages:
  handoff:
    send: {channel: webhook, template: crm/handoff, url: "https://crm.example/hook"}
    final: true
""",
        path="crm.yaml",
    )
    night = utc(2027, 1, 5, 4)  # 23:00 in New York
    [message] = journey.start(bride, now=night).messages
    assert message.due_at == night and message.url == "https://crm.example/hook"


def test_timers_due_at_the_same_instant_fire_in_file_order(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: tie
entry: {event: web.form_submitted}
initial: wait
stages:
  wait:
    on:
      - {at: {attribute: wedding_date, offset: -30d}, to: first}
      - {at: {attribute: wedding_date, offset: -30d}, to: second}
  first: {final: true}
  second: {final: true}
""",
        path="tie.yaml",
    )
    state = journey.start(bride, now=SIGNUP.time).state
    assert journey.on_clock(state, bride, now=utc(2027, 9, 1)).state.stage == "first"


CHAIN = """
journey: chain
entry: {event: web.form_submitted}
initial: a
stages:
  a:
    send: {channel: email, template: x/a}
    on:
      - {at: {attribute: wedding_date, offset: -400d}, to: b}
  b:
    send: {channel: email, template: x/b}
    on:
      - {at: {attribute: wedding_date, offset: -300d}, to: c}
  c:
    send: {channel: email, template: x/c}
    final: true
"""


def test_stages_passed_through_at_once_send_nothing(bride: ContactView) -> None:
    journey = compile_text(CHAIN, path="chain.yaml")
    decision = journey.start(bride, now=SIGNUP.time)
    assert [c.to_stage for c in decision.changes] == ["a", "b", "c"]
    assert [m.template for m in decision.messages] == ["x/c"]
    assert decision.state.status is Status.COMPLETED


def test_chain_ending_on_a_final_stage_at_the_limit_completes(
    bride: ContactView, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.engine.core as core

    monkeypatch.setattr(core, "MAX_CHAINED_MOVES", 2)
    decision = compile_text(CHAIN, path="chain.yaml").start(bride, now=SIGNUP.time)
    assert decision.state.stage == "c" and decision.state.status is Status.COMPLETED
    assert decision.notes == ()


def test_at_self_loop_with_skip_fires_once(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: once
entry: {event: web.form_submitted}
initial: a
stages:
  a:
    send: {channel: email, template: x/a}
    on:
      - {at: {attribute: wedding_date, offset: -1d, time: "10:00"}, if_past: skip, to: a}
      - {event: order.completed, to: done}
  done: {final: true}
""",
        path="once.yaml",
    )
    state = journey.start(bride, now=SIGNUP.time).state
    due = journey.next_due(state, bride)
    assert due == utc(2027, 9, 17, 14)
    fired = journey.on_clock(state, bride, now=due)
    assert len(fired.changes) == 1 and len(fired.messages) == 1 and not fired.notes
    assert fired.next_due_at is None  # the moment that led back here is past: skipped


def test_stored_versions_keep_event_types_no_longer_known() -> None:
    text = """
journey: old
entry: {event: shop.signup}
initial: a
stages:
  a: {final: true}
"""
    with pytest.raises(JourneyErrors, match=r"unknown event type 'shop\.signup'"):
        compile_text(text, path="old.yaml")
    assert compile_text(text, path="old.yaml", stored=True).journey.entry.event == "shop.signup"


def test_adopting_onto_a_final_stage_completes(mini: CompiledJourney, bride: ContactView) -> None:
    state = replace(mini.start(bride, now=SIGNUP.time).state, version="0")
    decision = mini.adopt(state, bride, stage="done", now=SIGNUP.time)
    assert (decision.state.version, decision.state.status) == (mini.version, Status.COMPLETED)
    assert decision.changes[0].trigger == f"migrate:0->{mini.version}"
    assert not decision.messages and decision.next_due_at is None


def test_steps_from_many_short_lived_threads_keep_few_models_bound(
    mini: CompiledJourney, bride: ContactView
) -> None:
    """Worker threads come and go; the state-machine models they used must not pile up."""
    state = mini.start(bride, now=SIGNUP.time).state
    later = SIGNUP.time + timedelta(hours=2)
    click = _event("email.clicked", later, link="favors")
    stages: list[str] = []
    barrier = threading.Barrier(4)

    def step() -> None:
        barrier.wait(timeout=10)  # four steps at once, so several models are in use together
        stages.append(mini.on_event(state, bride, click, now=later).state.stage)

    for _ in range(50):  # 200 threads in all, four alive at a time
        threads = [threading.Thread(target=step) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(mini.machine.models) <= MAX_IDLE_MODELS
    assert len(stages) == 200 and set(stages) == {"favors"}


# ----- holdout ---------------------------------------------------------------------------


def test_a_holdout_of_ten_percent_holds_ten_percent_of_ten_thousand_contacts() -> None:
    ids = [f"contact-{number}" for number in range(10_000)]
    held = sum(in_holdout(contact_id, "wedding", 0.10) for contact_id in ids)
    assert 900 <= held <= 1_100
    assert not any(in_holdout(contact_id, "wedding", 0.0) for contact_id in ids)
    # Another journey draws its own holdout: not the same contacts.
    other = {c for c in ids if in_holdout(c, "newsletter", 0.10)}
    assert other != {c for c in ids if in_holdout(c, "wedding", 0.10)}


def test_the_same_contact_lands_in_the_same_group_every_time(mini_text: str) -> None:
    text = mini_text.replace("persona: bride\n", "persona: bride\nholdout: 50%\n")
    versions = [
        compile_text(
            text.replace("journey: mini", f"version: '{v}'\njourney: mini"), path="mini.yaml"
        )
        for v in ("1", "2")
    ]
    groups = {}
    for number in range(40):
        contact = ContactView(id=f"c-{number}", attributes={"wedding_date": "2027-09-18"})
        starts = [
            journey.start(contact, now=utc(2027, 1, 4, 15), event=SIGNUP).state.holdout
            for journey in (*versions, *versions)
        ]
        assert len(set(starts)) == 1  # every version, every time
        assert starts[0] == in_holdout(contact.id, "mini-wedding", 0.5)
        groups[contact.id] = starts[0]
    assert set(groups.values()) == {True, False}


def test_a_holdout_contact_moves_exactly_like_everyone(mini_text: str) -> None:
    held = compile_text(
        mini_text.replace("persona: bride\n", "persona: bride\nholdout: 50%\n"), path="mini.yaml"
    )
    plain = compile_text(mini_text, path="mini.yaml")
    contact = next(
        ContactView(id=f"c-{n}", attributes={"wedding_date": "2027-09-18"})
        for n in range(100)
        if in_holdout(f"c-{n}", "mini-wedding", 0.5)
    )
    now = utc(2027, 1, 4, 15)
    ours, theirs = (j.start(contact, now=now, event=SIGNUP) for j in (held, plain))
    assert (ours.state.holdout, theirs.state.holdout) == (True, False)
    alike = replace(ours.state, holdout=False, version=theirs.state.version)
    assert replace(ours, state=alike) == theirs
    click = _event("email.clicked", now + timedelta(hours=1), link="favors")
    moved = held.on_event(ours.state, contact, click, now=click.time)
    assert moved.state.stage == "favors" and moved.state.holdout
    assert [m.template for m in moved.messages] == ["mini/favors"]  # ordered as for anyone


def test_event_types_are_every_type_it_reacts_to() -> None:
    journey = compile_text(
        """
journey: t
entry: {event: web.form_submitted}
exit: {events: [email.unsubscribed]}
goal: {event: order.completed}
initial: a
stages:
  a:
    on:
      - {event: email.clicked, to: b}
      - {after: 1d, to: b}
  b: {final: true}
""",
        path="t.yaml",
    )
    assert journey.event_types == {
        "web.form_submitted",
        "email.unsubscribed",
        "order.completed",
        "email.clicked",
    }
