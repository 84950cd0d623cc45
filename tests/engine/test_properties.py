"""Property tests: random behaviour never leaves a contact in an undefined stage, and the
same inputs always give the same decisions."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.engine.core import CompiledJourney, ContactView, Decision, EventView, Status
from service.engine.loader import compile_text
from tests.engine.conftest import FIXTURES, utc

JOURNEY = compile_text((FIXTURES / "valid" / "mini.yaml").read_text(), path="mini.yaml")
START = utc(2027, 1, 4, 15)
EVENT_TYPES = [
    "email.clicked",
    "email.opened",
    "email.unsubscribed",
    "order.completed",
    "sms.received",
    "web.page_viewed",
    "web.form_submitted",
]
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60 * 24 * 30),  # minutes since the previous step
        st.one_of(
            st.none(),  # a clock tick
            st.tuples(
                st.sampled_from(EVENT_TYPES),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "link": st.sampled_from(["favors", "invitations", "x"]),
                        "categories": st.lists(
                            st.sampled_from(["favors", "thank-you-cards", "gift"])
                        ),
                        "body": st.sampled_from(["STOP", "hi", 3]),
                    },
                ),
            ),
        ),
    ),
    max_size=40,
)
contacts = st.builds(
    ContactView,
    id=st.just("c"),
    attributes=st.fixed_dictionaries(
        {"first_name": st.just("Ava")},
        optional={
            "wedding_date": st.one_of(
                st.dates().map(lambda d: d.isoformat()), st.just("not a date"), st.integers()
            )
        },
    ),
    timezone=st.sampled_from(
        ["America/New_York", "Europe/Paris", "Asia/Kolkata", None, "Mars/Base"]
    ),
)


def _run(journey: CompiledJourney, contact: ContactView, plan: list) -> list[Decision]:  # type: ignore[type-arg]
    now: datetime = START
    decisions = [journey.start(contact, now=now)]
    state = decisions[0].state
    for minutes, event in plan:
        now = now + timedelta(minutes=minutes)
        if event is None:
            decision = journey.on_clock(state, contact, now=now)
        else:
            kind, props = event
            decision = journey.on_event(
                state, contact, EventView(type=kind, time=now, properties=props), now=now
            )
        decisions.append(decision)
        state = decision.state
    return decisions


@settings(max_examples=150, deadline=None)
@given(contact=contacts, plan=steps)
def test_random_behaviour_keeps_contact_in_a_defined_stage(
    contact: ContactView, plan: list
) -> None:  # type: ignore[type-arg]
    previous = None
    for decision in _run(JOURNEY, contact, plan):
        state = decision.state
        assert state.stage in JOURNEY.journey.stages
        assert isinstance(state.status, Status)
        if state.status is not Status.ACTIVE:
            assert decision.next_due_at is None
        if decision.next_due_at is not None:
            assert decision.next_due_at.tzinfo is not None
        for message in decision.messages:
            assert message.stage in JOURNEY.journey.stages
            assert message.due_at >= min(c.at for c in decision.changes)
        if previous is not None and previous.status is not Status.ACTIVE:
            assert state == previous  # an ended enrollment never changes again
        previous = state


@settings(max_examples=75, deadline=None)
@given(contact=contacts, plan=steps)
def test_decisions_are_deterministic(contact: ContactView, plan: list) -> None:  # type: ignore[type-arg]
    other = compile_text((FIXTURES / "valid" / "mini.yaml").read_text(), path="mini.yaml")
    assert _run(JOURNEY, contact, plan) == _run(other, contact, plan)
