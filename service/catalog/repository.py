"""Journey version rows, and the counts the journey reads and metrics show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from service.store.db import insert_ignoring_conflicts
from service.store.intake import InboxEvent
from service.store.models import (
    Enrollment,
    Event,
    JourneyCatalog,
    JourneyVersion,
    Message,
    MessageStatus,
    TransitionRecord,
    new_id,
)


def get_journey_version(
    session: Session, *, journey_id: str, version: str
) -> JourneyVersion | None:
    """One stored journey version."""
    statement = select(JourneyVersion).where(
        JourneyVersion.journey_id == journey_id, JourneyVersion.version == version
    )
    return session.exec(statement).first()


def add_journey_version(
    session: Session, *, journey_id: str, version: str, source: str, path: str, now: datetime
) -> None:
    """Store a version's source; a concurrent registration of the same version is fine."""
    insert_ignoring_conflicts(
        session,
        JourneyVersion,
        {
            "id": new_id(),
            "journey_id": journey_id,
            "version": version,
            "source": source,
            "path": path,
            "created_at": now,
            "current": False,
        },
    )


def journey_versions(session: Session, *, journey_id: str) -> Sequence[JourneyVersion]:
    """Every stored version of a journey, oldest first."""
    statement = (
        select(JourneyVersion)
        .where(JourneyVersion.journey_id == journey_id)
        .order_by(col(JourneyVersion.created_at))
    )
    return session.exec(statement).all()


def catalog_generation(session: Session) -> int:
    """How many times the set of current versions has changed (0 before the first publish)."""
    row = session.get(JourneyCatalog, 1)
    return row.generation if row is not None else 0


def lock_catalog(session: Session, *, now: datetime) -> JourneyCatalog:
    """The catalog row, locked for this transaction, so publishes happen one at a time."""
    insert_ignoring_conflicts(
        session, JourneyCatalog, {"id": 1, "generation": 0, "updated_at": now}
    )
    statement = select(JourneyCatalog).where(JourneyCatalog.id == 1).with_for_update()
    return session.exec(statement).one()


def current_versions(session: Session) -> Sequence[JourneyVersion]:
    """The version of each journey that new entries use."""
    statement = select(JourneyVersion).where(col(JourneyVersion.current).is_(True))
    return session.exec(statement.order_by(col(JourneyVersion.journey_id))).all()


def set_current(session: Session, *, journey_id: str, version: str | None) -> None:
    """Make `version` the journey's current one; None stops new entries into the journey."""
    session.execute(
        update(JourneyVersion)
        .where(col(JourneyVersion.journey_id) == journey_id)
        .values(current=col(JourneyVersion.version) == version if version else False)
    )


def active_counts(session: Session, *, journey_id: str) -> dict[str, int]:
    """Active enrollments of one journey per version."""
    statement = (
        select(Enrollment.version, func.count())
        .where(Enrollment.journey_id == journey_id, Enrollment.status == "active")
        .group_by(col(Enrollment.version))
    )
    return {version: n for version, n in session.exec(statement).all()}


def active_stage_counts(session: Session) -> dict[tuple[str, str, str], int]:
    """Active enrollments per (journey, version, stage)."""
    statement = (
        select(Enrollment.journey_id, Enrollment.version, Enrollment.stage, func.count())
        .where(Enrollment.status == "active")
        .group_by(col(Enrollment.journey_id), col(Enrollment.version), col(Enrollment.stage))
    )
    return {(j, v, s): n for j, v, s, n in session.exec(statement).all()}


def stage_move_counts(
    session: Session, *, journey_id: str, version: str
) -> dict[tuple[str, str, str], int]:
    """How often each (from, to, trigger) move of one journey version was taken."""
    statement = (
        select(
            TransitionRecord.from_stage,
            TransitionRecord.to_stage,
            TransitionRecord.trigger,
            func.count(),
        )
        .where(
            TransitionRecord.journey_id == journey_id,
            TransitionRecord.version == version,
            col(TransitionRecord.from_stage).is_not(None),
        )
        .group_by(
            col(TransitionRecord.from_stage),
            col(TransitionRecord.to_stage),
            col(TransitionRecord.trigger),
        )
    )
    return {(f, t, k): n for f, t, k, n in session.exec(statement).all() if f is not None}


def stuck_enrollments(
    session: Session, *, journey_id: str, idle_since: datetime, overdue_since: datetime, limit: int
) -> Sequence[Enrollment]:
    """Active enrollments nothing will move: no timer and idle since `idle_since`, or a timer
    that should have fired before `overdue_since` (no scheduler running)."""
    statement = (
        select(Enrollment)
        .where(
            Enrollment.journey_id == journey_id,
            Enrollment.status == "active",
            or_(
                col(Enrollment.next_due_at).is_(None) & (col(Enrollment.entered_at) < idle_since),
                col(Enrollment.next_due_at) < overdue_since,
            ),
        )
        .order_by(col(Enrollment.entered_at))
        .limit(limit)
    )
    return session.exec(statement).all()


def status_counts(session: Session) -> dict[str, list[tuple[tuple[str, ...], int]]]:
    """Row counts by label, for the metrics endpoint: enrollments, messages and events."""
    enrollments = select(
        Enrollment.journey_id, Enrollment.stage, Enrollment.status, func.count()
    ).group_by(col(Enrollment.journey_id), col(Enrollment.stage), col(Enrollment.status))
    messages = select(Message.channel, Message.status, func.count()).group_by(
        col(Message.channel), col(Message.status)
    )
    events = select(Event.type, func.count()).group_by(col(Event.type))
    return {
        "enrollments": [((j, st, s), n) for j, st, s, n in session.exec(enrollments).all()],
        "messages": [((c, s), n) for c, s, n in session.exec(messages).all()],
        "events": [((t,), n) for t, n in session.exec(events).all()],
    }


def overdue_counts(session: Session, *, before: datetime) -> tuple[int, int]:
    """Timers and pending messages that should have been handled before `before`."""
    timers = select(func.count()).where(
        Enrollment.status == "active", col(Enrollment.next_due_at) < before
    )
    messages = select(func.count()).where(
        Message.status == MessageStatus.PENDING, col(Message.due_at) < before
    )
    return int(session.exec(timers).one()), int(session.exec(messages).one())


def inbox_lag(session: Session, *, now: datetime) -> tuple[int, float]:
    """How many accepted events wait, and for how long the oldest has (seconds)."""
    count, oldest = session.exec(
        select(func.count(), func.min(InboxEvent.received_at)).where(
            col(InboxEvent.applied_at).is_(None)
        )
    ).one()
    return int(count), (now - oldest).total_seconds() if oldest is not None else 0.0
