"""A journey's headline figures, its stages and its paths, each one aggregate query (or a
few) in the database."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Select, and_, case, desc, func, literal, null, select, union_all
from sqlmodel import Session, col

from service.analytics import moves
from service.analytics.attribution import attributed
from service.analytics.figures import Exits, PathRow, StageRow, Summary
from service.analytics.moves import ERASURE, OPERATOR, RESTART, T
from service.analytics.percentiles import counted_percentiles, percentiles
from service.analytics.sql import (
    COMPLETED,
    Scope,
    count_if,
    read_first,
    seconds_between,
    tune,
)
from service.analytics.sql import EXIT as EXIT_KEY
from service.analytics.sql import GOAL as GOAL_KEY
from service.store.models import PATH_SEPARATOR, Enrollment, Message, MessageStatus, VisitEnd

PathSort = Literal["contacts", "revenue", "speed"]
# Where a visit went, by how it ended: on to its next stage, or one of these.
WAYS_OUT = {VisitEnd.GOAL: GOAL_KEY, VisitEnd.EXIT: EXIT_KEY, VisitEnd.COMPLETED: COMPLETED}


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
    # Conversions by her first goal, kept on the enrollment and read by its index.
    to_goal = (
        select(
            seconds_between(col(Enrollment.goal_at), col(Enrollment.started_at)).label("seconds")
        )
        .where(scope.of(Enrollment), scope.during(col(Enrollment.goal_at)))
        .subquery("to_goal")
    )
    middle = percentiles(session, to_goal, value="seconds", by=[])
    converted = session.execute(select(func.count()).select_from(to_goal)).scalar_one()
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
    the median and 90th percentile length of the visits that ended; each visit's end is
    kept on the move that began it."""
    tune(session)
    visits = (
        select(
            col(T.to_stage).label("stage"),
            col(T.visit_end).label("end"),
            col(T.next_stage).label("next_stage"),
            col(T.seconds).label("seconds"),
        )
        .where(scope.of(T), moves.is_visit(), scope.during(col(T.at)))
        .subquery("visits")
    )
    ends = select(
        visits.c.stage,
        visits.c.end,
        visits.c.next_stage,
        func.count(),
        func.count(visits.c.seconds),
    ).group_by(visits.c.stage, visits.c.end, visits.c.next_stage)
    entered: dict[str, int] = {}
    lasted: dict[str, int] = {}  # visits with a length, per stage
    ways: dict[str, dict[str, int]] = {}
    for stage, end, next_stage, count, timed in session.execute(ends).all():
        entered[stage] = entered.get(stage, 0) + int(count)
        lasted[stage] = lasted.get(stage, 0) + int(timed)
        target = next_stage if end == VisitEnd.VISIT else WAYS_OUT.get(end)
        if target is not None:
            moved = ways.setdefault(stage, {})
            moved[target] = moved.get(target, 0) + int(count)
    # The lengths of the visits that ended: over a whole history read in order from their
    # own index, over a range first from the index of visits.
    lengths_of: Select[str, float] = select(
        col(T.to_stage).label("stage"), col(T.seconds).label("seconds")
    ).where(scope.of(T), moves.is_visit(), col(T.seconds).is_not(None), scope.during(col(T.at)))
    ended = read_first(lengths_of, "ended") if scope.ranged else lengths_of.subquery("ended")
    spread = counted_percentiles(session, ended, value="seconds", by="stage", counts=lasted)
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
    its first visit (loops collapsed, as kept on the enrollment), with conversions, time to
    goal and revenue."""
    tune(session)
    first_goal = col(Enrollment.goal_at)  # her first goal, counted when before the range's end
    goal_at = first_goal if scope.until is None else case((first_goal < scope.until, first_goal))
    credited = attributed(scope)
    # Each ended enrollment's path and goal, and the revenue her messages earned, brought
    # together by grouping on the enrollment rather than by a join: neither side has an
    # index to join on, and SQLite would compare every pair.
    facts = union_all(
        select(
            col(Enrollment.id).label("enrollment_id"),
            col(Enrollment.path).label("path"),
            case((goal_at.is_not(None), 1), else_=0).label("converted"),
            seconds_between(goal_at, col(Enrollment.started_at)).label("seconds"),
            literal(0.0).label("revenue"),
        ).where(
            scope.of(Enrollment),
            scope.during(col(Enrollment.ended_at)),
            col(Enrollment.path).is_not(None),
        ),
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
    speed = percentiles(session, each, value="seconds", by=["path"])
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
