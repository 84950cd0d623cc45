"""The facts journey analytics read, kept true as moves are written: on the move that began
each stage visit, how, when and where to the visit ended; on the enrollment, her first goal
and the stages she visited in the order of their first visit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from service.engine.core import Status
from service.store.models import PATH_SEPARATOR, Enrollment, TransitionRecord, VisitEnd

GOAL, EXIT, MIGRATE = "goal", "exit", "migrate"  # trigger prefixes (`goal:order.completed`)


def kind_of(trigger: str) -> str:
    """What a move is: the goal, an exit, a version migration, or else a stage visit."""
    prefix = trigger.split(":", 1)[0]
    return prefix if prefix in (GOAL, EXIT, MIGRATE) else VisitEnd.VISIT


def record_moves(
    session: Session, *, enrollment: Enrollment, moves: Sequence[TransitionRecord]
) -> None:
    """Keep the facts true for `moves`, one decision's new history rows in order (not yet
    added), given `enrollment` already in the state the decision left her in.

    A move to a stage ends the visit before it and begins one; an exit ends it; the goal ends
    it only when it ended her enrollment (a goal with `ends: false` is passed through); a
    version migration keeps her visit going; a final stage ends it as completed.
    """
    had_visit = enrollment.path is not None  # an open visit may be stored from before
    current: TransitionRecord | None = None  # the open visit among `moves`
    for index, move in enumerate(moves):
        kind = kind_of(move.trigger)
        if kind == MIGRATE:
            continue
        if kind == GOAL:
            enrollment.goal_at = enrollment.goal_at or move.at
            if enrollment.status != Status.CONVERTED or index < len(moves) - 1:
                continue
        end = VisitEnd.VISIT if kind == VisitEnd.VISIT else VisitEnd(kind)
        nxt = move.to_stage if end is VisitEnd.VISIT else None
        _end(session, enrollment, current, had_visit, end=end, next_stage=nxt, at=move.at)
        had_visit, current = False, None
        if end is VisitEnd.VISIT:
            move.visit_end, current = VisitEnd.OPEN, move
            stages = enrollment.path.split(PATH_SEPARATOR) if enrollment.path else []
            if move.to_stage not in stages:
                enrollment.path = PATH_SEPARATOR.join([*stages, move.to_stage])
    if moves and enrollment.status == Status.COMPLETED:
        _end(session, enrollment, current, had_visit, end=VisitEnd.COMPLETED)


def _end(
    session: Session,
    enrollment: Enrollment,
    current: TransitionRecord | None,
    stored: bool,
    *,
    end: VisitEnd,
    next_stage: str | None = None,
    at: datetime | None = None,
) -> None:
    """End the open visit: `current` when this decision began it, else the stored one."""
    if current is not None:
        current.visit_end, current.next_stage, current.left_at = end, next_stage, at
    elif stored:
        session.execute(
            update(TransitionRecord)
            .where(
                col(TransitionRecord.enrollment_id) == enrollment.id,
                col(TransitionRecord.visit_end) == VisitEnd.OPEN,
            )
            .values(visit_end=end, next_stage=next_stage, left_at=at)
            .execution_options(synchronize_session=False)
        )
