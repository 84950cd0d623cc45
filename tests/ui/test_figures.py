"""How the pages word and draw the analytics figures: the lift sentence, the map's layout
and durations."""

from __future__ import annotations

from service.analytics.figures import Group, Interval, Lift
from service.analytics.stats import newcombe
from service.runtime import Runtime
from service.ui import words
from service.ui.svg import layers


def _lift(treatment: tuple[int, int], holdout: tuple[int, int]) -> Lift:
    groups = Group(*treatment), Group(*holdout)
    if min(treatment[0], holdout[0]) < 30:
        return Lift(*groups, insufficient_data=True)
    difference = newcombe(treatment[1], treatment[0], holdout[1], holdout[0])
    return Lift(*groups, insufficient_data=False, conversion_difference=difference)


def test_lift_sentence_of_newcombes_worked_example() -> None:
    """Newcombe (1998), example (a): 56/70 against 48/80, +0.0524 to +0.3339."""
    assert words.lift_sentence(_lift((70, 56), (80, 48))) == (
        "Journey contacts converted 20.0 points more often than the holdout (95% CI 5.2 to 33.4)."
    )


def test_lift_needs_a_holdout_of_some_size() -> None:
    assert "No holdout configured" in words.lift_sentence(_lift((40, 10), (0, 0)))
    assert words.lift_sentence(_lift((30, 8), (10, 2))) == (
        "Too few contacts to compare yet: 30 in the journey and 10 in the holdout; "
        "each group needs at least 30."
    )


def test_lift_sentence_says_less_often_too() -> None:
    lift = Lift(
        Group(100, 20),
        Group(100, 25),
        insufficient_data=False,
        conversion_difference=Interval(-0.05, -0.17, 0.07, 0.4),
    )
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
