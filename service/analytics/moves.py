"""How the history of moves reads: which transitions begin a stage visit, reach the goal or
end an enrollment early, and each visit with what followed it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, case, func, literal_column, not_, or_, select
from sqlmodel import col

from service.analytics.sql import Scope, seconds_between
from service.store.models import Enrollment, TransitionRecord

T = TransitionRecord
VISIT, GOAL, EXIT = "visit", "goal", "exit"
OPERATOR, RESTART = "exit:manual", "exit:restart"


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


def visits(scope: Scope) -> Subquery:
    """Every stage visit begun in the range, with what ended it (`next_kind` visit, goal or
    exit and `next_stage`; NULL while she is there or after she completed), its length in
    seconds, and her enrollment's status now."""
    kind = case((is_goal(), GOAL), (is_exit(), EXIT), else_=VISIT)
    moves = (
        select(
            col(T.enrollment_id).label("enrollment_id"),
            col(T.seq).label("seq"),
            col(T.at).label("at"),
            col(T.to_stage).label("stage"),
            kind.label("kind"),
            func.lead(col(T.seq))
            .over(partition_by=col(T.enrollment_id), order_by=col(T.seq))
            .label("later"),
        )
        .where(scope.of(T), not_(_kind("migrate")))
        .subquery("moves")
    )
    # A goal that did not end her (goal: {ends: false}) is not a way out of the stage.
    ending = or_(
        moves.c.kind != GOAL,
        and_(moves.c.later.is_(None), col(Enrollment.status) == "converted"),
    )
    by_enrollment: dict[str, Any] = {"partition_by": moves.c.enrollment_id, "order_by": moves.c.seq}
    steps = (
        select(
            moves.c.enrollment_id,
            moves.c.at,
            moves.c.stage,
            moves.c.kind,
            col(Enrollment.status).label("status"),
            func.lead(moves.c.kind).over(**by_enrollment).label("next_kind"),
            func.lead(moves.c.stage).over(**by_enrollment).label("next_stage"),
            func.lead(moves.c.at).over(**by_enrollment).label("next_at"),
        )
        .join(Enrollment, col(Enrollment.id) == moves.c.enrollment_id)
        .where(ending)
        .subquery("steps")
    )
    return (
        select(
            steps.c.enrollment_id,
            steps.c.stage,
            steps.c.status,
            steps.c.next_kind,
            steps.c.next_stage,
            seconds_between(steps.c.next_at, steps.c.at).label("seconds"),
        )
        .where(steps.c.kind == VISIT, scope.during(steps.c.at))
        .subquery("visits")
    )
