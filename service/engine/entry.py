"""Entry and re-entry in one place, so the service and the simulator enrol contacts alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from service.engine.core import CompiledJourney
from service.engine.model import ReenterPolicy
from service.engine.state import ContactView, Decision, EnrollmentState, EventView


@dataclass(frozen=True)
class EntryDecision:
    """What one event does to a contact's enrollment in one journey."""

    notes: tuple[str, ...]  # guard errors from matching the entry rule
    restarts: tuple[Decision, ...]  # exits (reason "restart") of `active`, same order
    start: Decision | None  # None: the event does not enrol her


def entry_allowed(reenter: ReenterPolicy, *, has_active: bool, has_any: bool) -> bool:
    """The re-entry policy: never (once ever), after_exit (none active), always (restart)."""
    if reenter == "never":
        return not has_any
    if reenter == "after_exit":
        return not has_active
    return True


def decide_entry(
    journey: CompiledJourney,
    contact: ContactView,
    event: EventView,
    *,
    active: Sequence[EnrollmentState],
    enrolled_before: bool,
    now: datetime,
) -> EntryDecision:
    """Whether `event` enrols the contact in `journey`, ending her active enrollments first.

    `active` are her active enrollment states in this journey, of any version (an exit does
    not depend on the version); `enrolled_before` says whether she has any enrollment of it.
    """
    matched, notes = journey.matches_entry(contact, event)
    reenter = journey.journey.entry.reenter
    if not matched or not entry_allowed(reenter, has_active=bool(active), has_any=enrolled_before):
        return EntryDecision(notes=notes, restarts=(), start=None)
    restarts = tuple(journey.exit(state, now=now, reason="restart") for state in active)
    return EntryDecision(
        notes=notes, restarts=restarts, start=journey.start(contact, now=now, event=event)
    )


def decide_enrolment(
    journey: CompiledJourney,
    contact: ContactView,
    *,
    active: Sequence[EnrollmentState],
    enrolled_before: bool,
    now: datetime,
) -> Decision | None:
    """An enrolment no event caused (an imported list, an audience): the re-entry policy
    applies, but it never ends an active enrollment, so enrolling a list twice changes
    nothing the second time. None when she is not enrolled."""
    reenter = journey.journey.entry.reenter
    if active or not entry_allowed(reenter, has_active=False, has_any=enrolled_before):
        return None
    return journey.start(contact, now=now)
