"""Repository functions: every query the service runs, keyword-only, one session each.

Callers own the transaction (Database.write); functions here only read and stage rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col, select

from service.store.models import (
    Consent,
    ConsentStatus,
    Contact,
    Enrollment,
    Event,
    JourneyVersion,
    Message,
    MessageStatus,
    TransitionRecord,
    WebhookToken,
    new_id,
)

IDENTIFIERS = ("email", "phone", "external_id")


def _insert_ignoring_conflicts(
    session: Session, model: type[SQLModel], values: dict[str, Any]
) -> bool:
    """Insert a row unless a unique key already holds it; True when it was inserted."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = model.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(**values).on_conflict_do_nothing()
    result = session.execute(statement.returning(table.c.id))
    return result.first() is not None


# ----- contacts -----------------------------------------------------------------------------


def get_contact(session: Session, *, contact_id: str) -> Contact | None:
    """A contact by id."""
    return session.get(Contact, contact_id)


def find_contact(session: Session, *, field: str, value: str) -> Contact | None:
    """A contact by one identifier (email, phone or external_id)."""
    if field not in IDENTIFIERS:
        raise ValueError(f"not an identifier: {field}")
    return session.exec(select(Contact).where(getattr(Contact, field) == value)).first()


def lock_contact(session: Session, *, contact_id: str) -> Contact | None:
    """The contact row, locked until commit: all work on one contact happens in turn."""
    statement = select(Contact).where(Contact.id == contact_id).with_for_update()
    return session.exec(statement.execution_options(populate_existing=True)).first()


def ensure_contact(session: Session, *, field: str, value: str, now: datetime) -> Contact:
    """The contact holding this identifier, created if new, and locked."""
    if field == "id":
        contact = lock_contact(session, contact_id=value)
        if contact is None:
            raise LookupError(value)
        return contact
    _insert_ignoring_conflicts(
        session,
        Contact,
        {"id": new_id(), field: value, "attributes": {}, "created_at": now, "updated_at": now},
    )
    found = find_contact(session, field=field, value=value)
    if found is None:  # the identifier was taken by a contact deleted meanwhile
        raise LookupError(value)
    contact = lock_contact(session, contact_id=found.id)
    assert contact is not None
    return contact


def identifier_owner(session: Session, *, field: str, value: str) -> str | None:
    """Id of the contact that holds an identifier, if any."""
    contact = find_contact(session, field=field, value=value)
    return contact.id if contact else None


# ----- consent ------------------------------------------------------------------------------


def contact_consents(session: Session, *, contact_id: str) -> Sequence[Consent]:
    """Every channel's consent row of a contact."""
    statement = select(Consent).where(Consent.contact_id == contact_id).order_by(Consent.channel)
    return session.exec(statement).all()


def set_consent(
    session: Session,
    *,
    contact_id: str,
    channel: str,
    now: datetime,
    status: ConsentStatus | None = None,
    reason: str | None = None,
    suppressed: bool | None = None,
) -> Consent:
    """Record a consent change or a suppression for one channel."""
    statement = select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel)
    consent = session.exec(statement).first()
    if consent is None:
        consent = Consent(contact_id=contact_id, channel=channel, updated_at=now)
    if status is not None:
        consent.status = status
        consent.reason = reason
    if suppressed is not None:
        consent.suppressed = suppressed
        consent.suppression_reason = reason if suppressed else None
    consent.updated_at = now
    session.add(consent)
    return consent


def blocked_reason(session: Session, *, contact_id: str, channel: str) -> str | None:
    """Why a channel may not be used for this contact, or None when it may."""
    statement = select(Consent).where(Consent.contact_id == contact_id, Consent.channel == channel)
    consent = session.exec(statement).first()
    if consent is None:
        return None
    if consent.status == ConsentStatus.WITHDRAWN:
        return f"consent withdrawn ({consent.reason or 'no reason'})"
    if consent.suppressed:
        return f"suppressed ({consent.suppression_reason or 'no reason'})"
    return None


# ----- journey versions ---------------------------------------------------------------------


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
    _insert_ignoring_conflicts(
        session,
        JourneyVersion,
        {
            "id": new_id(),
            "journey_id": journey_id,
            "version": version,
            "source": source,
            "path": path,
            "created_at": now,
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


# ----- enrollments --------------------------------------------------------------------------


def contact_enrollments(
    session: Session, *, contact_id: str, journey_id: str | None = None
) -> Sequence[Enrollment]:
    """A contact's enrollments, oldest first, optionally in one journey."""
    statement = select(Enrollment).where(Enrollment.contact_id == contact_id)
    if journey_id is not None:
        statement = statement.where(Enrollment.journey_id == journey_id)
    return session.exec(statement.order_by(col(Enrollment.started_at), col(Enrollment.id))).all()


def get_enrollment(session: Session, *, enrollment_id: str) -> Enrollment | None:
    """An enrollment by id."""
    return session.get(Enrollment, enrollment_id)


def claim_due_enrollments(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Lease up to `limit` active enrollments whose timer is due; (id, contact_id) pairs.

    Rows another worker holds (row lock or unexpired lease) are skipped, never waited for.
    """
    statement = (
        select(Enrollment.id, Enrollment.contact_id)
        .where(
            Enrollment.status == "active",
            col(Enrollment.next_due_at) <= now,
            or_(col(Enrollment.claimed_until).is_(None), col(Enrollment.claimed_until) < now),
        )
        .order_by(col(Enrollment.next_due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = [(row[0], row[1]) for row in session.exec(statement).all()]
    if rows:
        session.execute(
            update(Enrollment)
            .where(col(Enrollment.id).in_([r[0] for r in rows]))
            .values(claimed_until=lease_until)
        )
    return rows


def enrollments_to_migrate(
    session: Session, *, journey_id: str, current_version: str, from_version: str | None
) -> list[tuple[str, str, str, str]]:
    """Active enrollments on other versions: (enrollment id, contact id, version, stage)."""
    statement = select(
        Enrollment.id, Enrollment.contact_id, Enrollment.version, Enrollment.stage
    ).where(
        Enrollment.journey_id == journey_id,
        Enrollment.status == "active",
        Enrollment.version != current_version,
    )
    if from_version is not None:
        statement = statement.where(Enrollment.version == from_version)
    rows = session.exec(statement.order_by(col(Enrollment.id))).all()
    return [(e_id, contact_id, version, stage) for e_id, contact_id, version, stage in rows]


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


# ----- events -------------------------------------------------------------------------------


def record_event(
    session: Session,
    *,
    source: str,
    event_id: str,
    type: str,
    time: datetime,
    contact_id: str,
    properties: dict[str, Any],
    received_at: datetime,
    message: Message | None = None,
) -> str | None:
    """Store an event (tied to the message it is feedback on, if any); its row id, or None
    when (source, event_id) was already received."""
    row_id = new_id()
    inserted = _insert_ignoring_conflicts(
        session,
        Event,
        {
            "id": row_id,
            "source": source,
            "event_id": event_id,
            "type": type,
            "time": time,
            "contact_id": contact_id,
            "properties": properties,
            "received_at": received_at,
            "message_id": message.id if message else None,
            "journey_id": message.journey_id if message else None,
            "stage": message.stage if message else None,
        },
    )
    return row_id if inserted else None


def find_event(session: Session, *, source: str, event_id: str) -> Event | None:
    """An event by its sender's identity."""
    statement = select(Event).where(Event.source == source, Event.event_id == event_id)
    return session.exec(statement).first()


def get_event(session: Session, *, row_id: str) -> Event | None:
    """An event by row id."""
    return session.get(Event, row_id)


def contact_events(session: Session, *, contact_id: str) -> Sequence[Event]:
    """A contact's events in the order they happened."""
    statement = (
        select(Event)
        .where(Event.contact_id == contact_id)
        .order_by(col(Event.time), col(Event.received_at))
    )
    return session.exec(statement).all()


# ----- webhook tokens -----------------------------------------------------------------------


def remember_webhook_token(
    session: Session,
    *,
    source: str,
    token: str,
    body_sha256: str,
    now: datetime,
    forget_before: datetime,
) -> bool:
    """Record a one-time token; False when it was already used with a different body.

    The same token with the same body is a provider retry, which the events' own dedupe
    absorbs. Tokens seen before `forget_before` are pruned: their timestamps are stale anyway.
    """
    session.execute(delete(WebhookToken).where(col(WebhookToken.seen_at) < forget_before))
    values = {"source": source, "token": token, "body_sha256": body_sha256, "seen_at": now}
    if _insert_ignoring_conflicts(session, WebhookToken, {"id": new_id(), **values}):
        return True
    statement = select(WebhookToken.body_sha256).where(
        WebhookToken.source == source, WebhookToken.token == token
    )
    return session.exec(statement).first() == body_sha256


# ----- transitions --------------------------------------------------------------------------


def contact_transitions(session: Session, *, contact_id: str) -> Sequence[TransitionRecord]:
    """A contact's moves in order."""
    statement = (
        select(TransitionRecord)
        .where(TransitionRecord.contact_id == contact_id)
        .order_by(col(TransitionRecord.seq))
    )
    return session.exec(statement).all()
