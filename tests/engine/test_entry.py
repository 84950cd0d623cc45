"""Entry and re-entry: which event enrols a contact, and what happens to her enrollments."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from service.engine.core import CompiledJourney, ContactView, EventView, Status
from service.engine.entry import decide_enrolment, decide_entry, entry_allowed
from service.engine.loader import compile_text
from service.engine.simulate import Simulation, parse_scenario
from tests.engine.conftest import utc

SIGNUP = EventView(
    type="web.form_submitted", time=utc(2027, 1, 4, 15), properties={"form": "wedding-signup"}
)
LATER = utc(2027, 1, 5, 15)


def _with_policy(mini_text: str, policy: str) -> CompiledJourney:
    text = mini_text.replace("reenter: after_exit", f"reenter: {policy}")
    return compile_text(text, path="mini.yaml")


@pytest.mark.parametrize(
    ("policy", "has_active", "has_any", "allowed"),
    [
        ("never", False, False, True),
        ("never", False, True, False),
        ("never", True, True, False),
        ("after_exit", False, False, True),
        ("after_exit", False, True, True),
        ("after_exit", True, True, False),
        ("always", True, True, True),
        ("always", False, True, True),
    ],
)
def test_reenter_policies(policy: str, has_active: bool, has_any: bool, allowed: bool) -> None:
    assert entry_allowed(policy, has_active=has_active, has_any=has_any) is allowed


def test_first_matching_event_enrols(mini: CompiledJourney, bride: ContactView) -> None:
    entry = decide_entry(mini, bride, SIGNUP, active=(), enrolled_before=False, now=SIGNUP.time)
    assert entry.notes == () and entry.restarts == ()
    assert entry.start == mini.start(bride, now=SIGNUP.time, event=SIGNUP)


def test_an_event_that_does_not_match_enrols_no_one(
    mini: CompiledJourney, bride: ContactView
) -> None:
    other = replace(SIGNUP, properties={"form": "newsletter"})
    entry = decide_entry(mini, bride, other, active=(), enrolled_before=False, now=SIGNUP.time)
    assert (entry.notes, entry.restarts, entry.start) == ((), (), None)


def test_guard_errors_are_noted_whether_or_not_she_enrols(bride: ContactView) -> None:
    journey = compile_text(
        """
journey: broken-guard
entry: {event: web.form_submitted, when: "event.properties.form.upper() > 3"}
initial: done
stages:
  done: {final: true}
""",
        path="g.yaml",
    )
    entry = decide_entry(journey, bride, SIGNUP, active=(), enrolled_before=False, now=LATER)
    assert entry.start is None
    [note] = entry.notes
    assert note.startswith("guard 'event.properties.form.upper() > 3' failed: TypeError")


@pytest.mark.parametrize(
    ("policy", "active", "enrolled_before", "enrols"),
    [
        ("never", False, True, False),
        ("after_exit", True, True, False),
        ("after_exit", False, True, True),
        ("always", False, True, True),
    ],
)
def test_the_reenter_policy_decides(
    mini_text: str,
    bride: ContactView,
    policy: str,
    active: bool,
    enrolled_before: bool,
    enrols: bool,
) -> None:
    journey = _with_policy(mini_text, policy)
    states = [journey.start(bride, now=SIGNUP.time).state] if active else []
    entry = decide_entry(
        journey, bride, SIGNUP, active=states, enrolled_before=enrolled_before, now=LATER
    )
    assert (entry.start is not None) is enrols
    assert entry.restarts == ()


def test_always_restarts_every_active_enrollment_in_order(
    mini_text: str, bride: ContactView
) -> None:
    journey = _with_policy(mini_text, "always")
    current = journey.start(bride, now=SIGNUP.time).state
    older = replace(current, version="old", stage="favors", entered_at=SIGNUP.time - timedelta(1))
    entry = decide_entry(
        journey, bride, SIGNUP, active=[older, current], enrolled_before=True, now=LATER
    )
    assert [d.state.version for d in entry.restarts] == ["old", journey.version]
    assert all(d.state.status is Status.RESTARTED for d in entry.restarts)
    assert [(c.from_stage, c.trigger, c.at) for d in entry.restarts for c in d.changes] == [
        ("favors", "exit:restart", LATER),
        ("welcome", "exit:restart", LATER),
    ]
    assert entry.start is not None
    assert entry.start.state.entered_at == LATER
    assert [c.trigger for c in entry.start.changes] == ["entry:web.form_submitted"]


def test_the_simulator_restarts_as_the_policy_says(mini_text: str) -> None:
    journey = _with_policy(mini_text, "always")
    scenario = parse_scenario(
        """
start: "2027-01-04T15:00:00Z"
contact: {timezone: UTC, attributes: {first_name: Ava, wedding_date: "2027-09-18"}}
events:
  - "+0h web.form_submitted {form: wedding-signup}"
  - "+1h web.form_submitted {form: wedding-signup}"
""",
        path="s.yaml",
    )
    timeline = Simulation(journey, content=None).run(scenario)
    assert [(e.kind, e.at) for e in timeline if e.kind in ("enter", "restarted")] == [
        ("enter", utc(2027, 1, 4, 15)),
        ("restarted", utc(2027, 1, 4, 16)),
        ("enter", utc(2027, 1, 4, 16)),
    ]


@pytest.mark.parametrize("policy", ["never", "after_exit", "always"])
def test_an_enrolment_without_an_event_follows_the_policy_but_never_restarts(
    mini_text: str, bride: ContactView, policy: str
) -> None:
    journey = _with_policy(mini_text, policy)
    start = decide_enrolment(journey, bride, active=[], enrolled_before=False, now=LATER)
    assert start is not None and start.changes[0].trigger == "entry"
    active = [start.state]
    assert decide_enrolment(journey, bride, active=active, enrolled_before=True, now=LATER) is None
    again = decide_enrolment(journey, bride, active=[], enrolled_before=True, now=LATER)
    assert (again is None) == (policy == "never")
