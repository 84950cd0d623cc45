"""Attribution, decided once when an order is recorded: its revenue is credited, last touch,
to the latest message each journey sent (or held, for the holdout) to her at or before the
order, when that is within the journey's attribution window at that moment. Analytics reads
the credits as they were decided (analytics/attribution.py)."""

# Decided when the order is recorded, so a message sent after that never earns the order,
# whatever time the order carries; feedback that comes later changes the message's delivery
# facts, never its credit. The window is the journey's current version's (the message's own
# version's for a journey no longer current). A redelivered order is a duplicate before it
# gets here, so each order is credited once.

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from service.catalog.registry import JourneyRegistry
from service.delivery import outbox
from service.engine.core import EventView
from service.store.models import Attribution

ORDER = "order.completed"
REVENUE_KEYS = ("revenue", "total", "value")  # an order's revenue, first number first


def order_revenue(properties: Mapping[str, Any]) -> float | None:
    """An order's revenue: its `revenue`, else `total`, else `value` (numbers only)."""
    for key in REVENUE_KEYS:
        value = properties.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def credited_revenue(event: EventView) -> float | None:
    """The revenue an event brings to credit: an order's, none for any other event."""
    return order_revenue(event.properties) if event.type == ORDER else None


def window_of(journeys: JourneyRegistry, *, journey_id: str, version: str) -> timedelta:
    """The journey's attribution window now: its current version's, else the version's."""
    compiled = journeys.current.get(journey_id) or journeys.get(journey_id, version)
    return compiled.journey.attribution.window


def credit_order(
    session: Session, journeys: JourneyRegistry, *, row_id: str, contact_id: str, event: EventView
) -> None:
    """Credit a just-recorded order (`row_id`) to the message of each journey that earned it."""
    revenue = credited_revenue(event)
    if revenue is None:
        return
    for message in outbox.latest_touches(session, contact_id=contact_id, at=event.time):
        window = window_of(journeys, journey_id=message.journey_id, version=message.version)
        if message.sent_at is None or event.time - message.sent_at > window:
            continue
        session.add(
            Attribution(
                event_id=row_id,
                journey_id=message.journey_id,
                contact_id=contact_id,
                enrollment_id=message.enrollment_id,
                message_id=message.id,
                version=message.version,
                stage=message.stage,
                template=message.template,
                channel=message.channel,
                status=message.status,
                revenue=revenue,
                at=event.time,
            )
        )


def move_credits(
    session: Session,
    *,
    contact_id: str,
    into: str,
    enrollments: Mapping[str, str],
    messages: Mapping[str, str],
) -> None:
    """Erasure: her credits onto the copies of their enrollments and messages, so revenue
    figures stay true with no link back to her."""
    mine = select(Attribution).where(col(Attribution.contact_id) == contact_id)
    for credit in session.exec(mine).all():
        credit.contact_id = into
        credit.enrollment_id = enrollments[credit.enrollment_id]
        credit.message_id = messages[credit.message_id]
        session.add(credit)
