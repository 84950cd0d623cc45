"""The one definition of attribution: an `order.completed` in the range is credited, last
touch, to the most recent message of the journey sent (or held, for the holdout) to that
contact within the attribution window before the order."""

from __future__ import annotations

from sqlalchemy import CTE, and_, func, select
from sqlmodel import col

from service.analytics.sql import Scope, revenue_of, seconds_between
from service.store.models import Event, Message, MessageStatus

ORDER = "order.completed"
TOUCHES = (MessageStatus.SENT, MessageStatus.HELD)


def attributed(scope: Scope) -> CTE:
    """One row per credited order: its revenue and the message (and its enrollment, stage,
    template, channel and status) that earned it."""
    orders = (
        select(
            col(Event.id).label("order_id"),
            col(Event.contact_id).label("contact_id"),
            col(Event.time).label("time"),
            revenue_of(col(Event.properties)).label("revenue"),
        )
        .where(col(Event.type) == ORDER, scope.during(col(Event.time)))
        .subquery("orders")
    )
    sent_at = col(Message.sent_at)
    ranked = (
        select(
            orders.c.order_id,
            orders.c.revenue,
            col(Message.id).label("message_id"),
            col(Message.enrollment_id).label("enrollment_id"),
            col(Message.stage).label("stage"),
            col(Message.template).label("template"),
            col(Message.channel).label("channel"),
            col(Message.status).label("status"),
            func.row_number()
            .over(partition_by=orders.c.order_id, order_by=(sent_at.desc(), col(Message.id).desc()))
            .label("touch"),
        )
        .join(
            Message,
            and_(
                col(Message.contact_id) == orders.c.contact_id,
                scope.of(Message),
                col(Message.status).in_(TOUCHES),
                sent_at <= orders.c.time,
                seconds_between(orders.c.time, sent_at) <= scope.window.total_seconds(),
            ),
        )
        .where(orders.c.revenue.is_not(None))
        .subquery("touches")
    )
    return (
        select(*(c for c in ranked.c if c.name != "touch"))
        .where(ranked.c.touch == 1)
        .cte("attributed")
    )
