"""Per message and per channel: distinct messages reaching each delivery status (from the
provider events tied back to them), conversions after them and the revenue they earned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace

from sqlalchemy import Subquery, and_, case, exists, func, select
from sqlmodel import Session, col

from service.analytics.attribution import attributed
from service.analytics.figures import ChannelRow, MessageMetrics, MessageRow
from service.analytics.moves import T, is_goal
from service.analytics.sql import Scope, count_if, seconds_between
from service.delivery.status import EMAIL_STATUS
from service.store.models import Event, Message, MessageStatus
from webhooks.statuses import EMAIL_ORDER


def _reaching(status: str) -> list[str]:
    """Email event types that mean a message reached `status` (each step implies the ones
    before it: a click was delivered and opened)."""
    rank = EMAIL_ORDER.ranks.get(status)
    return sorted(
        kind
        for kind, reported in EMAIL_STATUS.items()
        if reported == status or (rank is not None and EMAIL_ORDER.ranks.get(reported, -1) > rank)
    )


# The event types tied back to a message that mean it reached each status.
REACHED: Mapping[str, list[str]] = {
    "delivered": [*_reaching("delivered"), "sms.delivered"],
    "opened": _reaching("opened"),
    "clicked": _reaching("clicked"),
    "bounced": _reaching("bounced"),
    "complained": ["email.complained"],
    "unsubscribed": ["email.unsubscribed"],
    "failed": [*_reaching("failed"), "sms.failed"],
}
OPENS_REPORTED = frozenset({"email"})  # the channels whose providers report opens and clicks
UNCOUNTED = ("revenue", "reports_opens")


def _feedback(scope: Scope) -> Subquery:
    """Per message of the journey that got feedback: 1 for each status it reached."""
    kind = col(Event.type)
    return (
        select(
            col(Event.message_id).label("message_id"),
            *(
                func.max(case((kind.in_(types), 1), else_=0)).label(status)
                for status, types in REACHED.items()
            ),
        )
        .where(col(Event.journey_id) == scope.journey_id, col(Event.message_id).is_not(None))
        .group_by(col(Event.message_id))
        .subquery("feedback")
    )


def messages(session: Session, scope: Scope) -> list[MessageRow]:
    """Every template a stage queued in the range: sent, held, each delivery status,
    conversions within the attribution window after it, and attributed revenue."""
    feedback = _feedback(scope)
    sent = col(Message.status) == MessageStatus.SENT
    converted = exists().where(
        col(T.enrollment_id) == col(Message.enrollment_id),
        is_goal(),
        col(T.at) >= col(Message.sent_at),
        seconds_between(col(T.at), col(Message.sent_at)) <= scope.window.total_seconds(),
    )
    reached = {status: count_if(and_(sent, feedback.c[status] == 1)) for status in REACHED}
    reached["failed"] = count_if(
        (col(Message.status) == MessageStatus.FAILED) | (feedback.c.failed == 1)
    )
    key = [col(Message.stage), col(Message.template), col(Message.channel)]
    statement = (
        select(
            *key,
            func.count().label("queued"),
            count_if(sent).label("sent"),
            count_if(col(Message.status) == MessageStatus.HELD).label("held"),
            *(value.label(status) for status, value in reached.items()),
            count_if(and_(sent, converted)).label("conversions"),
        )
        .outerjoin(feedback, feedback.c.message_id == col(Message.id))
        .where(scope.of(Message), scope.during(col(Message.created_at)))
        .group_by(*key)
    )
    counted = [f.name for f in fields(MessageMetrics) if f.name not in UNCOUNTED]
    rows = {
        (row["stage"], row["template"], row["channel"]): MessageMetrics(
            **{name: int(row[name]) for name in counted},
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
    reached = exists().where(col(T.enrollment_id) == col(Message.enrollment_id), is_goal())
    converted = dict(
        session.execute(
            select(col(Message.channel), func.count(func.distinct(col(Message.enrollment_id))))
            .where(
                scope.of(Message),
                scope.during(col(Message.created_at)),
                col(Message.status) == MessageStatus.SENT,
                reached,
            )
            .group_by(col(Message.channel))
        ).all()
    )
    return [
        ChannelRow(channel, metrics, int(converted.get(channel, 0)))
        for channel, metrics in sorted(totals.items())
    ]
