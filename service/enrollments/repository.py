"""Enrollment, event and history rows: what the unit of work and the timeline read and write."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from service.store.db import insert_ignoring_conflicts
from service.store.intake import InboxEvent
from service.store.models import (
    Enrollment,
    Event,
    Message,
    TransitionRecord,
    new_id,
)

InboxKey = tuple[str, str]  # (source, event_id): what names an event


def contact_enrollments(
    session: Session, *, contact_id: str, journey_id: str | None = None
) -> Sequence[Enrollment]:
    """A contact's enrollments, oldest first, optionally in one journey."""
    statement = select(Enrollment).where(Enrollment.contact_id == contact_id)
    if journey_id is not None:
        statement = statement.where(Enrollment.journey_id == journey_id)
    return session.exec(statement.order_by(col(Enrollment.started_at), col(Enrollment.id))).all()


def enrollments_of(session: Session, *, contact_ids: Sequence[str]) -> dict[str, list[Enrollment]]:
    """The enrollments of many contacts in one query, each contact's oldest first."""
    statement = (
        select(Enrollment)
        .where(col(Enrollment.contact_id).in_(contact_ids))
        .order_by(col(Enrollment.started_at), col(Enrollment.id))
    )
    found: dict[str, list[Enrollment]] = {contact_id: [] for contact_id in contact_ids}
    for enrollment in session.exec(statement).all():
        found[enrollment.contact_id].append(enrollment)
    return found


def enrollment_rows(
    session: Session, *, contact_ids: Collection[str], journey_id: str | None
) -> list[dict[str, Any]]:
    """The rows (as column values) of many contacts' active enrollments and of all theirs in
    `journey_id`, oldest first, in one query: what a batch's re-entry and timers read."""
    table = Enrollment.__table__  # type: ignore[attr-defined]
    mine = table.c.status == "active"
    if journey_id is not None:
        mine = or_(mine, table.c.journey_id == journey_id)
    statement = select(table).where(table.c.contact_id.in_(contact_ids), mine)
    found = session.execute(statement.order_by(table.c.started_at, table.c.id))
    return [dict(row._mapping) for row in found]


def get_enrollment(session: Session, *, enrollment_id: str) -> Enrollment | None:
    """An enrollment by id."""
    return session.get(Enrollment, enrollment_id)


def get_enrollments(session: Session, *, enrollment_ids: Sequence[str]) -> dict[str, Enrollment]:
    """A batch of enrollments by id, read fresh (their contacts are locked by now)."""
    statement = (
        select(Enrollment)
        .where(col(Enrollment.id).in_(enrollment_ids))
        .execution_options(populate_existing=True)
    )
    return {enrollment.id: enrollment for enrollment in session.exec(statement).all()}


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
    inserted = insert_ignoring_conflicts(
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


def record_events(session: Session, *, rows: Sequence[Mapping[str, Any]]) -> set[InboxKey]:
    """Store many events (each with every column of `record_event`'s row) in one statement;
    the keys of those stored, the others having been received meanwhile."""
    if not rows:
        return set()
    statement = _RECORD_EVENTS[session.get_bind().dialect.name == "postgresql"]
    return {(source, event_id) for source, event_id in session.execute(statement, list(rows))}


def _record_events(insert: Any) -> Any:
    table = Event.__table__  # type: ignore[attr-defined]
    return insert(table).on_conflict_do_nothing().returning(table.c.source, table.c.event_id)


_RECORD_EVENTS = {False: _record_events(sqlite_insert), True: _record_events(pg_insert)}


def events_received(session: Session, *, keys: Sequence[InboxKey]) -> dict[InboxKey, Event]:
    """The events already received under any of `keys`, by key."""
    if not keys:
        return {}
    statement = select(Event).where(tuple_(col(Event.source), col(Event.event_id)).in_(keys))
    return {(event.source, event.event_id): event for event in session.exec(statement).all()}


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


def contact_transitions(session: Session, *, contact_id: str) -> Sequence[TransitionRecord]:
    """A contact's moves in order."""
    statement = (
        select(TransitionRecord)
        .where(TransitionRecord.contact_id == contact_id)
        .order_by(col(TransitionRecord.seq))
    )
    return session.exec(statement).all()


def copy_enrollments(session: Session, *, contact_id: str, into: str) -> dict[str, str]:
    """Erasure: her enrollments copied under new random ids for `into`, with no timer left
    (old id -> new); `drop_moved_enrollments` removes the old rows once nothing points at them."""
    copies: dict[str, str] = {}
    for enrollment in contact_enrollments(session, contact_id=contact_id):
        copy = Enrollment(
            **enrollment.model_dump(exclude={"id", "contact_id", "next_due_at", "claimed_until"}),
            contact_id=into,
        )
        session.add(copy)
        copies[enrollment.id] = copy.id
    session.flush()
    return copies


def move_transitions(session: Session, *, into: str, enrollments: Mapping[str, str]) -> None:
    """Erasure: her moves, onto the copies of their enrollments."""
    for old, new in enrollments.items():
        session.execute(
            update(TransitionRecord)
            .where(col(TransitionRecord.enrollment_id) == old)
            .values(enrollment_id=new, contact_id=into)
            .execution_options(synchronize_session=False)
        )


def drop_moved_enrollments(session: Session, *, enrollments: Mapping[str, str]) -> None:
    """Erasure: the old enrollment rows, once their history points at the copies."""
    session.execute(
        delete(Enrollment)
        .where(col(Enrollment.id).in_(list(enrollments)))
        .execution_options(synchronize_session=False)
    )


def store_inbox(session: Session, *, rows: Sequence[Mapping[str, Any]]) -> dict[InboxKey, int]:
    """Store accepted events unless their (source, event_id) is already there; the inbox id
    of each row stored, by key (the first of two rows with one key is the one stored)."""
    if not rows:
        return {}
    statement = _STORE_INBOX[session.get_bind().dialect.name == "postgresql"]
    # One statement compiled once; the driver sends the rows in multi-row batches.
    result = session.execute(statement, list(rows))
    return {(source, event_id): row_id for row_id, source, event_id in result}


def _store_inbox(insert: Any) -> Any:
    table = InboxEvent.__table__  # type: ignore[attr-defined]
    return (
        insert(table)
        .on_conflict_do_nothing()
        .returning(table.c.id, table.c.source, table.c.event_id)
    )


_STORE_INBOX = {False: _store_inbox(sqlite_insert), True: _store_inbox(pg_insert)}


def inbox_types(session: Session, *, keys: Sequence[InboxKey]) -> dict[InboxKey, tuple[int, str]]:
    """The inbox id and type already stored under each of `keys` that has a row."""
    if not keys:
        return {}
    statement = select(InboxEvent.id, InboxEvent.source, InboxEvent.event_id, InboxEvent.type)
    found = session.exec(
        statement.where(tuple_(col(InboxEvent.source), col(InboxEvent.event_id)).in_(keys))
    ).all()
    return {
        (source, event_id): (row_id, kind)
        for row_id, source, event_id, kind in found
        if row_id is not None  # a stored row always has its id
    }


def claim_inbox(
    session: Session,
    *,
    limit: int,
    lanes: Sequence[str] | None = None,
    skip_lanes: Sequence[str] = (),
) -> list[InboxEvent]:
    """The oldest pending rows, locked (others skip them), keeping of each lane only the
    run that starts at its oldest pending row with none missing: a row another applier
    holds ends its lane's run, so every lane applies in order on one applier at a time."""
    statement = select(InboxEvent).where(col(InboxEvent.applied_at).is_(None))
    if lanes is not None:
        statement = statement.where(col(InboxEvent.lane).in_(lanes))
    if skip_lanes:
        statement = statement.where(col(InboxEvent.lane).not_in(skip_lanes))
    statement = statement.order_by(col(InboxEvent.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = list(session.exec(statement).all())
    if not rows:
        return rows
    last = max(row.id or 0 for row in rows)
    pending = select(InboxEvent.lane, InboxEvent.id).where(
        col(InboxEvent.applied_at).is_(None),
        col(InboxEvent.lane).in_({row.lane for row in rows}),
        col(InboxEvent.id) <= last,
    )
    queued: dict[str, list[int]] = {}
    for lane, row_id in session.exec(pending.order_by(col(InboxEvent.id))).all():
        if row_id is not None:
            queued.setdefault(lane, []).append(row_id)
    kept: list[InboxEvent] = []
    position: dict[str, int] = {}
    broken: set[str] = set()
    for row in rows:  # in id order, as each lane's queue is
        at = position.get(row.lane, 0)
        if row.lane in broken or queued.get(row.lane, [])[at : at + 1] != [row.id]:
            broken.add(row.lane)
            continue
        position[row.lane] = at + 1
        kept.append(row)
    return kept


def mark_applied(session: Session, *, applied: Sequence[Mapping[str, Any]]) -> None:
    """Mark many inbox rows applied with their results, in one statement the driver batches:
    each mapping has the row's `row_id`, `result` and `applied_at`."""
    if applied:
        session.execute(_MARK_APPLIED, list(applied))


def _mark_applied() -> Any:
    table = InboxEvent.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(body={}, result=bindparam("result"), applied_at=bindparam("applied_at"))
    )


_MARK_APPLIED = _mark_applied()


def inbox_rows(session: Session, *, ids: Sequence[int]) -> list[InboxEvent]:
    """Inbox rows by id, in the order asked."""
    found = {
        row.id: row
        for row in session.exec(select(InboxEvent).where(col(InboxEvent.id).in_(ids))).all()
    }
    return [found[row_id] for row_id in ids if row_id in found]


def forget_applied(session: Session, *, before: datetime, limit: int) -> int:
    """Drop up to `limit` rows applied before `before`: past retention, a redelivery is
    recognised by the events table alone."""
    oldest = (
        select(InboxEvent.id)
        .where(col(InboxEvent.applied_at) < before)
        .order_by(col(InboxEvent.id))
        .limit(limit)
    )
    result = session.execute(delete(InboxEvent).where(col(InboxEvent.id).in_(oldest)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def drop_inbox_lanes(session: Session, *, lanes: Sequence[str]) -> None:
    """Erasure: her accepted events, applied or not, carry her details; they go."""
    session.execute(delete(InboxEvent).where(col(InboxEvent.lane).in_(lanes)))
