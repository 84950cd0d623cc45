"""The figures the pages show, where a hand computation is the proof: lift against a
holdout, and how the map lays stages out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.runtime import Runtime
from service.store.models import Enrollment
from service.ui import figures, words
from service.ui.figures import Range
from service.ui.svg import layers
from tests.factories import START, add_contact


def _enrol(runtime: Runtime, *, holdout: bool, converted: bool) -> None:
    contact = add_contact(runtime)
    with runtime.db.write() as session:
        session.add(
            Enrollment(
                contact_id=contact.id,
                journey_id="wedding-story",
                version="1",
                stage="welcome",
                status="converted" if converted else "active",
                holdout=holdout,
                entered_at=START,
                started_at=START,
                ended_at=START if converted else None,
            )
        )


def _lift(runtime: Runtime) -> figures.Lift:
    window = Range(START - timedelta(days=1), START + timedelta(days=1))
    with runtime.db.session() as session:
        return figures.lift(session, journey_id="wedding-story", version=None, window=window)


def test_lift_matches_newcombes_worked_example(runtime: Runtime) -> None:
    """Newcombe (1998), example (a): 56/70 against 48/80, hybrid score interval
    +0.0524 to +0.3339."""
    for holdout, total, converted in ((False, 70, 56), (True, 80, 48)):
        for i in range(total):
            _enrol(runtime, holdout=holdout, converted=i < converted)
    lift = _lift(runtime)
    assert (lift.treatment, lift.treatment_converted, lift.holdout, lift.holdout_converted) == (
        70,
        56,
        80,
        48,
    )
    assert lift.difference == pytest.approx(0.2)
    assert lift.low == pytest.approx(0.0524, abs=5e-5)
    assert lift.high == pytest.approx(0.3339, abs=5e-5)
    assert words.lift_sentence(lift) == (
        "Journey contacts converted 20.0 points more often than the holdout (95% CI 5.2 to 33.4)."
    )


def test_lift_needs_a_holdout_of_some_size(runtime: Runtime) -> None:
    assert "No holdout configured" in words.lift_sentence(_lift(runtime))
    for i in range(40):
        _enrol(runtime, holdout=i < 10, converted=i % 4 == 0)
    lift = _lift(runtime)
    assert lift.configured and not lift.enough
    assert words.lift_sentence(lift) == (
        "Too few contacts to compare yet: 30 in the journey and 10 in the holdout; "
        "each group needs at least 30."
    )


def test_lift_sentence_says_less_often_too() -> None:
    lift = figures.Lift(100, 20, 100, 25, difference=-0.05, low=-0.17, high=0.07)
    assert words.lift_sentence(lift) == (
        "Journey contacts converted 5.0 points less often than the holdout (95% CI -17.0 to 7.0)."
    )


def test_map_rows_follow_the_distance_from_initial(runtime: Runtime) -> None:
    story = runtime.journeys.current_of("wedding-story").journey
    assert layers(story) == [["welcome"], ["favors"], ["thank_you"], ["done"]]


def test_durations_read_plainly() -> None:
    assert [words.duration(s) for s in (None, 2, 59, 90, 7200, 86400 * 12)] == [
        "\u2013",
        "2 s",
        "59 s",
        "1.5 min",
        "2.0 h",
        "12 d",
    ]
