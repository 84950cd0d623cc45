"""Per message and per channel: distinct messages reaching each delivery status (the
feedback facts delivery/status.py keeps on each message), conversions after them and the
revenue they earned."""

from __future__ import annotations

from dataclasses import fields, replace

from sqlalchemy import ColumnElement, Subquery, and_, func, select
from sqlmodel import Session, col

from service.analytics.attribution import attributed
from service.analytics.figures import ChannelRow, MessageMetrics, MessageRow
from service.analytics.moves import T, is_goal
from service.analytics.sql import Scope, count_if, seconds_between, tune
from service.delivery.status import REACHED
from service.store.models import Message, MessageStatus

OPENS_REPORTED = frozenset({"email"})  # the channels whose providers report opens and clicks
UNCOUNTED = ("revenue", "reports_opens", "conversions")
KEY = (col(Message.stage), col(Message.template), col(Message.channel))
Key = tuple[str, str, str]


def _goal_moves(scope: Scope) -> Subquery:
    """Every goal move of the journey's enrollments, whatever the range or version (read from
    the partial index of goals)."""
    return (
        select(col(T.enrollment_id).label("enrollment_id"), col(T.at).label("at"))
        .where(col(T.journey_id) == scope.journey_id, is_goal())
        .subquery("goal_moves")
    )


def _sent_in_range(scope: Scope) -> list[ColumnElement[bool]]:
    return [
        scope.of(Message),
        scope.during(col(Message.created_at)),
        col(Message.status) == MessageStatus.SENT,
    ]


def _conversions(session: Session, scope: Scope) -> dict[Key, int]:
    """Per template: messages sent in the range after which the goal came within the
    attribution window, joined from the few goal moves to their enrollments' messages."""
    goals = _goal_moves(scope)
    sent_at = col(Message.sent_at)
    statement = (
        select(*KEY, func.count(func.distinct(col(Message.id))))
        .join(
            goals,
            and_(
                goals.c.enrollment_id == col(Message.enrollment_id),
                goals.c.at >= sent_at,
                seconds_between(goals.c.at, sent_at) <= scope.window.total_seconds(),
            ),
        )
        .where(*_sent_in_range(scope))
        .group_by(*KEY)
    )
    return {(s, t, c): int(n) for s, t, c, n in session.execute(statement).all()}


def messages(session: Session, scope: Scope) -> list[MessageRow]:
    """Every template a stage queued in the range: sent, held, each delivery status,
    conversions within the attribution window after it, and attributed revenue."""
    tune(session)
    sent = col(Message.status) == MessageStatus.SENT
    reached = {
        status: count_if(and_(sent, getattr(Message, f"{status}_at").is_not(None)))
        for status in REACHED
    }
    reached["failed"] = count_if(
        (col(Message.status) == MessageStatus.FAILED) | col(Message.failed_at).is_not(None)
    )
    statement = (
        select(
            *KEY,
            func.count().label("queued"),
            count_if(sent).label("sent"),
            count_if(col(Message.status) == MessageStatus.HELD).label("held"),
            *(value.label(status) for status, value in reached.items()),
        )
        .where(scope.of(Message), scope.during(col(Message.created_at)))
        .group_by(*KEY)
    )
    counted = [f.name for f in fields(MessageMetrics) if f.name not in UNCOUNTED]
    converted = _conversions(session, scope)
    rows = {
        (row["stage"], row["template"], row["channel"]): MessageMetrics(
            **{name: int(row[name]) for name in counted},
            conversions=converted.get((row["stage"], row["template"], row["channel"]), 0),
            reports_opens=row["channel"] in OPENS_REPORTED,
        )
        for row in session.execute(statement).mappings().all()
    }
    credited = attributed(scope)
    earned = select(
        credited.c.stage, credited.c.template, credited.c.channel, func.sum(credited.c.revenue)
    ).where(credited.c.status == MessageStatus.SENT)
    for stage, template, channel, revenue in session.execute(
        earned.group_by(credited.c.stage, credited.c.template, credited.c.channel)
    ).all():
        known = rows.get(
            (stage, template, channel), MessageMetrics(reports_opens=channel in OPENS_REPORTED)
        )
        rows[(stage, template, channel)] = replace(known, revenue=float(revenue))
    return [MessageRow(*key, metrics=metrics) for key, metrics in sorted(rows.items())]


def channels(session: Session, scope: Scope) -> list[ChannelRow]:
    """The message figures summed per channel, and how many enrollments that were sent the
    channel in the range reached the goal at all."""
    totals: dict[str, MessageMetrics] = {}
    for row in messages(session, scope):
        known = totals.get(row.channel, row.metrics)
        if known is not row.metrics:
            summed = {
                f.name: getattr(known, f.name) + getattr(row.metrics, f.name)
                for f in fields(known)
                if f.name != "reports_opens"
            }
            known = replace(known, **summed)
        totals[row.channel] = known
    goals = select(_goal_moves(scope).c.enrollment_id).distinct().subquery("reached")
    converted = dict(
        session.execute(
            select(col(Message.channel), func.count(func.distinct(col(Message.enrollment_id))))
            .join(goals, goals.c.enrollment_id == col(Message.enrollment_id))
            .where(*_sent_in_range(scope))
            .group_by(col(Message.channel))
        ).all()
    )
    return [
        ChannelRow(channel, metrics, int(converted.get(channel, 0)))
        for channel, metrics in sorted(totals.items())
    ]
