"""How the history of moves reads: which transitions begin a stage visit, reach the goal or
end an enrollment early, and each visit with what followed it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Subquery,
    and_,
    case,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlmodel import col

from service.analytics.sql import Scope, seconds_between
from service.store.models import Enrollment, TransitionRecord

T = TransitionRecord
VISIT, GOAL, EXIT = "visit", "goal", "exit"
OPERATOR, RESTART, ERASURE = "exit:manual", "exit:restart", "exit:erased"


def _kind(prefix: str) -> ColumnElement[bool]:
    """A trigger of one kind, spelled as SQL text (never a bound parameter) so the partial
    indexes of goals and exits (models.py, migration 0007) match it on both databases."""
    return col(T.trigger).like(literal_column(f"'{prefix}:%'"))


def is_goal() -> ColumnElement[bool]:
    """A move that reached the journey's goal (whether or not it ended the enrollment)."""
    return _kind("goal")


def is_exit() -> ColumnElement[bool]:
    """A move that ended an enrollment early: an exit rule, an operator or a restart."""
    return _kind("exit")


def is_visit() -> ColumnElement[bool]:
    """A move that began a stage visit: entry or a stage's transition (not the goal, an exit
    or a version migration, which keep her where she is)."""
    return not_(or_(is_goal(), is_exit(), _kind("migrate")))


def goals(scope: Scope) -> Subquery:
    """Each enrollment that reached the goal in the range, and when it first did."""
    return (
        select(col(T.enrollment_id).label("enrollment_id"), func.min(col(T.at)).label("at"))
        .where(scope.of(T), is_goal(), scope.during(col(T.at)))
        .group_by(col(T.enrollment_id))
        .subquery("goals")
    )


def _status_of(enrollment_id: Any) -> Any:
    """An enrollment's status now, looked up by its key."""
    return (
        select(col(Enrollment.status))
        .where(col(Enrollment.id) == enrollment_id)
        .correlate_except(Enrollment)
        .scalar_subquery()
    )


def visits(scope: Scope) -> Subquery:
    """Every stage visit begun in the range, with what ended it (`next_kind` visit, goal or
    exit and `next_stage`; NULL while she is there or after she completed), its length in
    seconds, and her enrollment's status now."""
    kind = case((is_goal(), GOAL), (is_exit(), EXIT), else_=VISIT)
    # A goal that did not end her (goal: {ends: false}) is not a way out of the stage: a goal
    # ends a visit only as her last move, her enrollment converted. Both are looked up for
    # the few goal moves alone, so the moves are ordered in one window pass.
    later = aliased(T)
    followed = exists().where(
        scope.of(later),
        col(later.enrollment_id) == col(T.enrollment_id),
        col(later.seq) > col(T.seq),
        not_(col(later.trigger).like(literal_column("'migrate:%'"))),
    )
    ending = or_(not_(is_goal()), and_(_status_of(col(T.enrollment_id)) == "converted", ~followed))
    moves = (
        select(
            col(T.enrollment_id).label("enrollment_id"),
            col(T.seq).label("seq"),
            col(T.at).label("at"),
            col(T.to_stage).label("stage"),
            kind.label("kind"),
        )
        .where(scope.of(T), not_(_kind("migrate")), ending)
        .subquery("moves")
    )
    by_enrollment: dict[str, Any] = {"partition_by": moves.c.enrollment_id, "order_by": moves.c.seq}
    steps = select(
        moves.c.enrollment_id,
        moves.c.at,
        moves.c.stage,
        moves.c.kind,
        func.lead(moves.c.kind).over(**by_enrollment).label("next_kind"),
        func.lead(moves.c.stage).over(**by_enrollment).label("next_stage"),
        func.lead(moves.c.at).over(**by_enrollment).label("next_at"),
    ).subquery("steps")
    # Her status now matters only to a visit nothing followed (completed, or still there).
    status = case((steps.c.next_kind.is_(None), _status_of(steps.c.enrollment_id)))
    return (
        select(
            steps.c.enrollment_id,
            steps.c.stage,
            status.label("status"),
            steps.c.next_kind,
            steps.c.next_stage,
            seconds_between(steps.c.next_at, steps.c.at).label("seconds"),
        )
        .where(steps.c.kind == VISIT, scope.during(steps.c.at))
        .subquery("visits")
    )
