"""Attributed revenue, read as it was decided when each order was recorded
(enrollments/attribution.py): no figure searches for touches or windows."""

from __future__ import annotations

from sqlalchemy import CTE, select
from sqlmodel import col

from service.analytics.sql import Scope
from service.store.models import Attribution


def attributed(scope: Scope) -> CTE:
    """One row per order in the range credited to a message of the journey (and version):
    its revenue and the message (its enrollment, stage, template, channel and status, sent
    or held) that earned it."""
    return (
        select(
            col(Attribution.enrollment_id).label("enrollment_id"),
            col(Attribution.revenue).label("revenue"),
            col(Attribution.message_id).label("message_id"),
            col(Attribution.stage).label("stage"),
            col(Attribution.template).label("template"),
            col(Attribution.channel).label("channel"),
            col(Attribution.status).label("status"),
        )
        .where(scope.of(Attribution), scope.during(col(Attribution.at)))
        .cte("attributed")
    )
