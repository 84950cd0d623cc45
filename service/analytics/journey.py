"""A journey's headline figures, its stages and its paths, each one aggregate query (or a
few) in the database."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_, case, desc, func, literal, null, select, union_all
from sqlmodel import Session, col

from service.analytics import moves
from service.analytics.attribution import attributed
from service.analytics.figures import Exits, PathRow, StageRow, Summary
from service.analytics.moves import ERASURE, EXIT, GOAL, OPERATOR, RESTART, VISIT, T
from service.analytics.percentiles import percentiles
from service.analytics.sql import (
    COMPLETED,
    PATH_SEPARATOR,
    Scope,
    concat_path,
    count_if,
    seconds_between,
    tune,
)
from service.analytics.sql import EXIT as EXIT_KEY
from service.analytics.sql import GOAL as GOAL_KEY
from service.store.models import Enrollment, Message, MessageStatus

PathSort = Literal["contacts", "revenue", "speed"]


def _seconds(value: float | None) -> float | None:
    """Seconds to the millisecond: SQLite's day fractions carry float noise below that."""
    return None if value is None else round(float(value), 3)


def summary(session: Session, scope: Scope) -> Summary:
    """Entered, active now, completed, converted, exited by why, the median time to the goal,
    revenue and messages sent."""
    tune(session)
    entered, held = session.execute(
        select(func.count(), count_if(col(Enrollment.holdout).is_(True))).where(
            scope.of(Enrollment), scope.during(col(Enrollment.started_at))
        )
    ).one()
    active = session.execute(
        select(func.count()).where(scope.of(Enrollment), col(Enrollment.status) == "active")
    ).scalar_one()
    completed = session.execute(
        select(func.count()).where(
            scope.of(Enrollment),
            scope.during(col(Enrollment.ended_at)),
            col(Enrollment.status) == "completed",
        )
    ).scalar_one()
    trigger = col(T.trigger)
    exit_rule, operator, restart, erasure = session.execute(
        select(
            count_if(and_(moves.is_exit(), trigger.not_in([OPERATOR, RESTART, ERASURE]))),
            count_if(trigger == OPERATOR),
            count_if(trigger == RESTART),
            count_if(trigger == ERASURE),
        ).where(scope.of(T), moves.is_exit(), scope.during(col(T.at)))
    ).one()
    goals = moves.goals(scope)
    to_goal = (
        select(seconds_between(goals.c.at, col(Enrollment.started_at)).label("seconds"))
        .select_from(goals)
        .join(Enrollment, col(Enrollment.id) == goals.c.enrollment_id)
        .subquery("to_goal")
    )
    middle = percentiles(to_goal, value="seconds", by=[])
    converted = session.execute(select(func.count()).select_from(goals)).scalar_one()
    median = session.execute(select(middle.c.median)).scalar()
    credited = attributed(scope)
    revenue = session.execute(
        select(func.coalesce(func.sum(credited.c.revenue), 0.0)).where(
            credited.c.status == MessageStatus.SENT
        )
    ).scalar_one()
    sent = session.execute(
        select(func.count()).where(
            scope.of(Message),
            scope.during(col(Message.created_at)),
            col(Message.status) == MessageStatus.SENT,
        )
    ).scalar_one()
    return Summary(
        entered=int(entered),
        holdout_entered=int(held),
        active=int(active),
        completed=int(completed),
        converted=int(converted),
        exited=Exits(int(exit_rule), int(operator), int(restart), int(erasure)),
        median_seconds_to_goal=_seconds(median),
        revenue=float(revenue),
        messages_sent=int(sent),
    )


def stages(session: Session, scope: Scope, *, names: list[str]) -> list[StageRow]:
    """Per stage (those of the journey first, in its order, then any others the history
    holds): visits begun in the range, where they went, who is still there, drop-off, and
    the median and 90th percentile length of the visits that ended."""
    tune(session)
    # The visits are read once (a CTE both halves share) for the ways out and the lengths.
    visits = select(moves.visits(scope)).cte("visits")
    to = case(
        (visits.c.next_kind == VISIT, visits.c.next_stage),
        (visits.c.next_kind == GOAL, GOAL_KEY),
        (visits.c.next_kind == EXIT, EXIT_KEY),
        (visits.c.status == "completed", COMPLETED),
    )
    lengths = percentiles(visits, value="seconds", by=["stage"])
    both = union_all(
        select(visits.c.stage, to.label("to"), func.count(), null(), null()).group_by(
            visits.c.stage, to
        ),
        select(lengths.c.stage, null(), null(), lengths.c.median, lengths.c.p90),
    )
    spread: dict[str, tuple[float | None, float | None]] = {}
    entered: dict[str, int] = {}
    ways: dict[str, dict[str, int]] = {}
    for stage, target, count, median, p90 in session.execute(both).all():
        if count is None:
            spread[stage] = (median, p90)
            continue
        entered[stage] = entered.get(stage, 0) + int(count)
        if target is not None:
            ways.setdefault(stage, {})[str(target)] = int(count)
    rows = []
    for stage in [*names, *sorted(set(entered) - set(names))]:
        moved = ways.get(stage, {})
        median, p90 = spread.get(stage, (None, None))
        rows.append(
            StageRow(
                stage=stage,
                entered=entered.get(stage, 0),
                moved_to=dict(sorted(moved.items())),
                still_here=entered.get(stage, 0) - sum(moved.values()),
                exits_here=moved.get(EXIT_KEY, 0),
                median_seconds=_seconds(median),
                p90_seconds=_seconds(p90),
            )
        )
    return rows


def paths(
    session: Session, scope: Scope, *, limit: int = 10, sort: PathSort = "contacts"
) -> list[PathRow]:
    """The commonest stage sequences of enrollments that ended in the range, each stage at
    its first visit (loops collapsed), with conversions, time to goal and revenue."""
    tune(session)
    ended = scope.during(col(Enrollment.ended_at))
    first = (
        select(
            col(T.enrollment_id).label("enrollment_id"),
            col(T.to_stage).label("stage"),
            col(T.seq).label("seq"),
            func.row_number()
            .over(partition_by=(col(T.enrollment_id), col(T.to_stage)), order_by=col(T.seq))
            .label("nth"),
        )
        .join(Enrollment, col(Enrollment.id) == col(T.enrollment_id))
        .where(scope.of(T), scope.of(Enrollment), ended, moves.is_visit())
        .subquery("first")
    )
    frame: dict[str, Any] = {"partition_by": first.c.enrollment_id, "order_by": first.c.seq}
    joined = (
        select(
            first.c.enrollment_id,
            concat_path(first.c.stage).over(**frame, rows=(None, None)).label("path"),
            func.row_number().over(**frame).label("k"),
        )
        .where(first.c.nth == 1)
        .subquery("joined")
    )
    credited = attributed(scope)
    # Her first goal up to the range's end, looked up by the partial index of goals.
    until = Scope(scope.journey_id, scope.version, None, scope.until)
    goal_at = (
        select(func.min(col(T.at)))
        .where(until.of(T), moves.is_goal(), until.during(col(T.at)))
        .where(col(T.enrollment_id) == joined.c.enrollment_id)
        .scalar_subquery()
    )
    # Each ended enrollment's path and goal, and the revenue her messages earned, brought
    # together by grouping on the enrollment rather than by a join: neither side has an
    # index to join on, and SQLite would compare every pair.
    facts = union_all(
        select(
            joined.c.enrollment_id,
            joined.c.path,
            case((goal_at.is_not(None), 1), else_=0).label("converted"),
            seconds_between(goal_at, col(Enrollment.started_at)).label("seconds"),
            literal(0.0).label("revenue"),
        )
        .join(Enrollment, col(Enrollment.id) == joined.c.enrollment_id)
        .where(joined.c.k == 1),
        select(credited.c.enrollment_id, null(), null(), null(), credited.c.revenue).where(
            credited.c.status == MessageStatus.SENT
        ),
    ).subquery("facts")
    each = (
        select(
            func.max(facts.c.path).label("path"),
            func.max(facts.c.converted).label("converted"),
            func.max(facts.c.seconds).label("seconds"),
            func.sum(facts.c.revenue).label("revenue"),
        )
        .group_by(facts.c.enrollment_id)
        .having(func.max(facts.c.path).is_not(None))
        .cte("each")  # read twice below (counts and time to goal), computed once
    )
    speed = percentiles(each, value="seconds", by=["path"])
    contacts = func.count().label("contacts")
    revenue = func.sum(each.c.revenue).label("revenue")
    grouped = (
        select(each.c.path, contacts, func.sum(each.c.converted).label("converted"), revenue)
        .group_by(each.c.path)
        .subquery("grouped")
    )
    order = {
        "contacts": [desc(grouped.c.contacts)],
        "revenue": [desc(grouped.c.revenue), desc(grouped.c.contacts)],
        "speed": [speed.c.median.is_(None), speed.c.median, desc(grouped.c.contacts)],
    }[sort]
    statement = (
        select(grouped, speed.c.median)
        .outerjoin(speed, speed.c.path == grouped.c.path)
        .order_by(*order, grouped.c.path)
        .limit(limit)
    )
    return [
        PathRow(
            stages=tuple(str(path).split(PATH_SEPARATOR)),
            contacts=int(n),
            converted=int(converted),
            median_seconds_to_goal=_seconds(median),
            revenue=float(money),
        )
        for path, n, converted, money, median in session.execute(statement).all()
    ]
