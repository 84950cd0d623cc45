"""The facts journey analytics read, kept true as moves are written: on the move that began
each stage visit, how it ended, where to and how long it lasted; on the enrollment, her first goal
and the stages she visited in the order of their first visit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from sqlmodel import Session, col, select

from service.engine.core import Status
from service.store.models import PATH_SEPARATOR, Enrollment, TransitionRecord, VisitEnd

GOAL, EXIT, MIGRATE = "goal", "exit", "migrate"  # trigger prefixes (`goal:order.completed`)


def kind_of(trigger: str) -> str:
    """What a move is: the goal, an exit, a version migration, or else a stage visit."""
    prefix = trigger.split(":", 1)[0]
    return prefix if prefix in (GOAL, EXIT, MIGRATE) else VisitEnd.VISIT


class Visit(Protocol):
    """A history row as its visit facts see it: a stored one, or one a batch holds."""

    trigger: str
    at: datetime
    to_stage: str
    visit_end: str | None
    next_stage: str | None
    seconds: float | None


class Facts(Protocol):
    """An enrollment as its facts see it, in the state the decision left her in."""

    status: str
    path: str | None
    goal_at: datetime | None


V = TypeVar("V", bound=Visit)


def record_moves(
    session: Session, *, enrollment: Enrollment, moves: Sequence[TransitionRecord]
) -> None:
    """Keep the facts true for `moves`, one decision's new history rows in order (not yet
    added), given `enrollment` already in the state the decision left her in."""
    if not moves:
        return
    # The visit she is in, begun by an earlier decision (none for a new enrollment).
    current = None if enrollment.path is None else _open_visit(session, enrollment.id)
    for touched in _follow(enrollment, moves, current):
        session.add(touched)


def first_moves(enrollment: Facts, moves: Sequence[Visit]) -> None:
    """The same for a new enrollment's first decision, with nothing earlier to read, so a
    batch keeps the facts of many without a query."""
    _follow(enrollment, moves, None)


def _follow(enrollment: Facts, moves: Sequence[V], current: V | None) -> list[V]:
    """The facts of `moves` after `current` (the move that began her open visit); the rows
    changed, in order.

    A move to a stage ends the visit before it and begins one; an exit ends it; the goal ends
    it only when it ended her enrollment (a goal with `ends: false` is passed through); a
    version migration keeps her visit going; a final stage ends it as completed.
    """
    touched: list[V] = []
    for index, move in enumerate(moves):
        kind = kind_of(move.trigger)
        if kind == MIGRATE:
            continue
        if kind == GOAL:
            enrollment.goal_at = enrollment.goal_at or move.at
            if enrollment.status != Status.CONVERTED or index < len(moves) - 1:
                continue
        end = VisitEnd(kind)
        if current is not None:
            current.visit_end = end
            current.next_stage = move.to_stage if end is VisitEnd.VISIT else None
            current.seconds = (move.at - current.at).total_seconds()
            touched.append(current)
        current = None
        if end is VisitEnd.VISIT:
            move.visit_end, current = VisitEnd.OPEN, move
            stages = enrollment.path.split(PATH_SEPARATOR) if enrollment.path else []
            if move.to_stage not in stages:
                enrollment.path = PATH_SEPARATOR.join([*stages, move.to_stage])
    if current is not None and enrollment.status == Status.COMPLETED:
        current.visit_end = VisitEnd.COMPLETED
        touched.append(current)
    return touched


def _open_visit(session: Session, enrollment_id: str) -> TransitionRecord | None:
    """The move that began the visit an enrollment is in."""
    return session.exec(
        select(TransitionRecord).where(
            col(TransitionRecord.enrollment_id) == enrollment_id,
            col(TransitionRecord.visit_end) == VisitEnd.OPEN,
        )
    ).first()
