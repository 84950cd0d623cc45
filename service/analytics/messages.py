"""Per message and per channel: distinct messages reaching each delivery status, conversions
after them and the revenue they earned, read in one pass over the journey's messages from the
facts delivery/status.py keeps on each (its status, its first time at each delivery status,
the next goal after it) and from the credits decided when orders were recorded."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import ColumnElement, and_, func, select
from sqlmodel import Session, col

from service.analytics.attribution import attributed
from service.analytics.figures import ChannelRow, MessageMetrics, MessageRow
from service.analytics.moves import T, is_goal
from service.analytics.sql import Scope, count_if, seconds_between, tune
from service.delivery.status import REACHED
from service.store.models import Message, MessageStatus

OPENS_REPORTED = frozenset({"email"})  # the channels whose providers report opens and clicks
TEMPLATE = ("stage", "template", "channel")  # a message row: one template a stage sent
Key = tuple[str, ...]


def _sent() -> ColumnElement[bool]:
    return col(Message.status) == MessageStatus.SENT


def _reached() -> dict[str, ColumnElement[int]]:
    """Per delivery status, how many sent messages reached it (failed: or failed outright)."""
    reached = {
        status: count_if(and_(_sent(), getattr(Message, f"{status}_at").is_not(None)))
        for status in REACHED
    }
    reached["failed"] = count_if(
        (col(Message.status) == MessageStatus.FAILED) | col(Message.failed_at).is_not(None)
    )
    return reached


def _metrics(session: Session, scope: Scope, *, by: Key) -> dict[Key, MessageMetrics]:
    """The figures of the messages queued in the range, grouped by the message columns `by`
    (which name the channel): counted in one pass, then the revenue credited to them."""
    tune(session)
    keys = [getattr(Message, name) for name in by]
    goal_at, sent_at = col(Message.goal_at), col(Message.sent_at)
    converted = and_(
        _sent(),
        goal_at.is_not(None),
        seconds_between(goal_at, sent_at) <= scope.window.total_seconds(),
    )
    reached = _reached()
    statement = (
        select(
            *keys,
            func.count(),
            count_if(_sent()),
            count_if(col(Message.status) == MessageStatus.HELD),
            count_if(converted),
            *reached.values(),
        )
        .where(scope.of(Message), scope.during(col(Message.created_at)))
        .group_by(*keys)
    )
    channel = by.index("channel")
    found: dict[Key, MessageMetrics] = {}
    for row in session.execute(statement).all():
        key = tuple(str(value) for value in row[: len(by)])
        queued, sent, held, conversions, *counts = (int(n) for n in row[len(by) :])
        found[key] = MessageMetrics(
            queued=queued,
            sent=sent,
            held=held,
            reached=dict(zip(reached, counts, strict=True)),
            conversions=conversions,
            reports_opens=key[channel] in OPENS_REPORTED,
        )
    credited = attributed(scope)
    earned = (
        select(*(credited.c[name] for name in by), func.sum(credited.c.revenue))
        .where(credited.c.status == MessageStatus.SENT)
        .group_by(*(credited.c[name] for name in by))
    )
    for *names, revenue in session.execute(earned).all():
        key = tuple(names)
        known = found.get(key, MessageMetrics(reports_opens=key[channel] in OPENS_REPORTED))
        found[key] = replace(known, revenue=float(revenue))
    return found


def messages(session: Session, scope: Scope) -> list[MessageRow]:
    """Every template a stage queued in the range: sent, held, each delivery status,
    conversions within the attribution window after it, and attributed revenue."""
    rows = _metrics(session, scope, by=TEMPLATE)
    return [
        MessageRow(stage, template, channel, metrics=metrics)
        for (stage, template, channel), metrics in sorted(rows.items())
    ]


def channels(session: Session, scope: Scope) -> list[ChannelRow]:
    """The message figures per channel, and how many enrollments that were sent the channel
    in the range reached the goal at all (their goal moves read from the partial index of
    goals, their messages by the index of an enrollment's messages)."""
    totals = _metrics(session, scope, by=("channel",))
    goals = (
        select(col(T.enrollment_id).label("enrollment_id"))
        .where(col(T.journey_id) == scope.journey_id, is_goal())
        .distinct()
        .subquery("reached")
    )
    converted = dict(
        session.execute(
            select(col(Message.channel), func.count(func.distinct(col(Message.enrollment_id))))
            .join(goals, goals.c.enrollment_id == col(Message.enrollment_id))
            .where(
                scope.of(Message),
                scope.during(col(Message.created_at)),
                _sent(),
            )
            .group_by(col(Message.channel))
        ).all()
    )
    return [
        ChannelRow(channel, metrics, int(converted.get(channel, 0)))
        for (channel,), metrics in sorted(totals.items())
    ]
