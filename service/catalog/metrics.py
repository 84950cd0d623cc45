"""Prometheus metrics: what the store holds right now, by label, and overdue work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from service.catalog import repository as catalog_repo
from service.catalog.registry import JourneyRegistry
from service.catalog.views import OVERDUE_AFTER


def metrics_text(session: Session, registry: JourneyRegistry, *, now: datetime) -> str:
    """Prometheus text exposition of what the store holds right now."""
    counts = catalog_repo.status_counts(session)
    timers, messages = catalog_repo.overdue_counts(session, before=now - OVERDUE_AFTER)
    pending, lag = catalog_repo.inbox_lag(session, now=now)
    lines: list[str] = []

    def gauge(name: str, help_text: str, labels: tuple[str, ...], rows: Any) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        for values, value in rows:
            pairs = ",".join(f'{k}="{_label(v)}"' for k, v in zip(labels, values, strict=True))
            lines.append(f"{name}{{{pairs}}} {value}" if pairs else f"{name} {value}")

    gauge(
        "nurture_enrollments",
        "Enrollments by journey, stage and status.",
        ("journey", "stage", "status"),
        counts["enrollments"],
    )
    gauge(
        "nurture_messages",
        "Outbox messages by channel and status.",
        ("channel", "status"),
        counts["messages"],
    )
    gauge("nurture_events", "Stored events by type.", ("type",), counts["events"])
    gauge(
        "nurture_journeys_loaded", "Journeys loaded from files.", (), [((), len(registry.current))]
    )
    gauge(
        "nurture_overdue_timers",
        "Active timers overdue by more than five minutes (is a scheduler running?).",
        (),
        [((), timers)],
    )
    gauge(
        "nurture_overdue_messages",
        "Pending messages overdue by more than five minutes.",
        (),
        [((), messages)],
    )
    gauge("nurture_inbox_pending", "Accepted events not applied yet.", (), [((), pending)])
    gauge(
        "nurture_inbox_lag_seconds",
        "How long the oldest accepted event not applied yet has waited.",
        (),
        [((), round(lag, 3))],
    )
    return "\n".join(lines) + "\n"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
