"""The one definition of attribution: an `order.completed` in the range is credited, last
touch, to the most recent message of the journey sent (or held, for the holdout) to that
contact within the attribution window before the order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, select
from sqlmodel import col

from service.analytics.sql import Scope, revenue_of, seconds_between
from service.store.models import Event, Message, MessageStatus

ORDER = "order.completed"
TOUCHES = (MessageStatus.SENT, MessageStatus.HELD)


def attributed(scope: Scope) -> CTE:
    """One row per credited order: its revenue and the message (and its enrollment, stage,
    template, channel and status) that earned it."""
    # The latest touch at or before the order, found per order by the contact's index
    # (ix_messages_contact_journey_sent) rather than by ranking every message: when it is
    # older than the window, so is every other touch, and the order is credited to none.
    latest = (
        select(col(Message.id))
        .where(
            col(Message.contact_id) == col(Event.contact_id),
            scope.of(Message),
            col(Message.status).in_(TOUCHES),
            col(Message.sent_at) <= col(Event.time),
        )
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
        .limit(1)
        .correlate(Event)
        .scalar_subquery()
    )
    orders = (
        select(
            col(Event.time).label("time"),
            revenue_of(col(Event.properties)).label("revenue"),
            latest.label("message_id"),
        )
        .where(col(Event.type) == ORDER, scope.during(col(Event.time)))
        .cte("orders")
        .prefix_with("MATERIALIZED")  # each order's latest touch looked up once, not per column
    )

    def touch(column: Any) -> Any:
        # One primary-key lookup per order: a join here lets PostgreSQL hash every message.
        return (
            select(column)
            .where(col(Message.id) == orders.c.message_id)
            .correlate(orders)
            .scalar_subquery()
        )

    credited = (
        select(
            orders.c.time,
            orders.c.revenue,
            orders.c.message_id,
            touch(col(Message.sent_at)).label("sent_at"),
            *(
                touch(getattr(Message, name)).label(name)
                for name in ("enrollment_id", "stage", "template", "channel", "status")
            ),
        )
        .where(orders.c.revenue.is_not(None), orders.c.message_id.is_not(None))
        .subquery("credited")
    )
    window = scope.window.total_seconds()
    return (
        select(*(c for c in credited.c if c.name not in ("time", "sent_at")))
        .where(seconds_between(credited.c.time, credited.c.sent_at) <= window)
        .cte("attributed")
    )
