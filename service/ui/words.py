"""Figures in plain words and short formats, so every page says a number the same way."""

from __future__ import annotations

from datetime import UTC, datetime

from service.analytics.figures import Lift
from service.analytics.lift import MIN_GROUP
from service.engine.core import CompiledJourney
from service.engine.state import ContactView, EnrollmentState

DASH = "\u2013"  # an en dash: nothing to show


def percent(value: float | None, digits: int = 1) -> str:
    """A share as a percentage; a dash when there is nothing to divide."""
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | None) -> str:
    """A count with thousands separated."""
    return DASH if value is None else f"{value:,.0f}"


def money(value: float | None) -> str:
    """An amount with two decimals, or a dash while it is not known."""
    return DASH if value is None else f"{value:,.2f}"


def duration(seconds: float | None) -> str:
    """A length of time in the largest unit that keeps it readable."""
    if seconds is None:
        return DASH
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


def moment(value: datetime | None) -> str:
    """A stored time in UTC, to the second."""
    if value is None:
        return DASH
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def lift_sentence(lift: Lift) -> str:
    """The lift panel's sentence: the difference in points with its interval, or why
    there is no difference to state."""
    if not lift.configured:
        return (
            "No holdout configured: every contact receives the journey's messages, "
            "so there is no group to compare against."
        )
    difference = lift.conversion_difference
    if difference is None:
        return (
            f"Too few contacts to compare yet: {lift.treatment.contacts} in the journey and "
            f"{lift.holdout.contacts} in the holdout; each group needs at least {MIN_GROUP}."
        )
    points = difference.estimate * 100
    interval = f"(95% CI {difference.low * 100:.1f} to {difference.high * 100:.1f})"
    if round(points, 1) == 0:
        return f"Journey contacts converted as often as the holdout {interval}."
    direction = "more" if points > 0 else "less"
    return (
        f"Journey contacts converted {abs(points):.1f} points {direction} often than the "
        f"holdout {interval}."
    )


def next_timer(compiled: CompiledJourney, state: EnrollmentState, contact: ContactView) -> str:
    """What her next timer will do, e.g. 'after 3s: to favors'."""
    moments = compiled.timer_moments(state, contact)
    if not moments:
        return "no timer: waits for an event"
    _, index, _ = moments[0]
    transition = compiled.journey.stages[state.stage].on[index]
    return f"{transition.describe()}: to {transition.to}"
