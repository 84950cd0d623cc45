"""The outbox tables' queries; callers own the transaction, and `status` writes state."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, or_, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from service.delivery import status
from service.engine.core import MessageOrder
from service.store.columns import new_id
from service.store.db import insert_ignoring_conflicts, insert_many, update_many
from service.store.models import Contact, Enrollment, Event, Message, MessageStatus, Note

# What a message said and where it went: cleared when its contact is erased.
ERASED_CONTENT = (
    "subject",
    "preheader",
    "html",
    "text",
    "body",
    "url",
    "error",
    "provider_message_id",
    "claimed_until",
)


class Queuer(Protocol):
    """The enrollment a message is queued for: a stored one, or one a batch holds."""

    @property
    def id(self) -> str: ...
    @property
    def contact_id(self) -> str: ...
    @property
    def journey_id(self) -> str: ...
    @property
    def version(self) -> str: ...


def _message(
    enrollment: Queuer, order: MessageOrder, event_row_id: str | None, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "idempotency_key": f"{enrollment.id}:{order.stage}:{order.visit}",
        "contact_id": enrollment.contact_id,
        "enrollment_id": enrollment.id,
        "event_id": event_row_id,
        "journey_id": enrollment.journey_id,
        "version": enrollment.version,
        "stage": order.stage,
        "visit": order.visit,
        "channel": order.channel,
        "template": order.template,
        "url": order.url,
        "due_at": order.due_at,
        "created_at": now,
        **status.NEW,
    }


def enqueue(
    session: Session,
    *,
    enrollment: Queuer,
    order: MessageOrder,
    event_row_id: str | None,
    now: datetime,
) -> bool:
    """Queue a stage visit's message once, however often it is decided; True when queued."""
    return insert_ignoring_conflicts(
        session, Message, _message(enrollment, order, event_row_id, now)
    )


def enqueue_many(
    session: Session,
    *,
    orders: Sequence[tuple[Queuer, MessageOrder]],
    event_row_id: str | None,
    now: datetime,
) -> None:
    """Queue the messages of many stage visits in one statement, each once, as `enqueue`
    would one after another (of two orders for one visit the first is queued)."""
    rows: dict[str, dict[str, Any]] = {}
    for enrollment, order in orders:
        row = _message(enrollment, order, event_row_id, now)
        rows.setdefault(row["idempotency_key"], row)
    insert_many(session, Message, list(rows.values()), ignore_conflicts=True)


def claim_due(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Lease due messages, skipping (never waiting for) rows other workers hold."""
    statement = (
        select(Message.id, Message.channel)
        .where(
            Message.status == MessageStatus.PENDING,
            col(Message.due_at) <= now,
            or_(col(Message.claimed_until).is_(None), col(Message.claimed_until) < now),
        )
        .order_by(col(Message.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = [(message_id, channel) for message_id, channel in session.exec(statement).all()]
    if claimed:
        session.execute(
            update(Message)
            .where(col(Message.id).in_([message_id for message_id, _ in claimed]))
            .values(claimed_until=lease_until)
        )
    return claimed


def get_message(session: Session, *, message_id: str, lock: bool = False) -> Message | None:
    """A message by id, locked when its state is about to change."""
    statement = select(Message).where(Message.id == message_id)
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement.execution_options(populate_existing=True)).first()


def message_contacts(session: Session, *, message_ids: Sequence[str]) -> list[str]:
    """The contacts of a batch of messages, in id order: the order a batch locks them in."""
    statement = (
        select(Message.contact_id)
        .where(col(Message.id).in_(message_ids))
        .distinct()
        .order_by(col(Message.contact_id))
    )
    return list(session.exec(statement).all())


def lock_messages(session: Session, *, message_ids: Sequence[str]) -> dict[str, Message]:
    """A batch of messages by id, locked in id order (so batches never wait in a cycle)."""
    statement = (
        select(Message)
        .where(col(Message.id).in_(message_ids))
        .order_by(col(Message.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {message.id: message for message in session.exec(statement).all()}


def load_enrollments(session: Session, *, messages: Iterable[Message]) -> None:
    """Read a batch's enrollments in one query, so the send-time rules and the holdout check
    find them in the session instead of asking once per message."""
    enrollment_ids = {message.enrollment_id for message in messages}
    if enrollment_ids:
        statement = select(Enrollment).where(col(Enrollment.id).in_(enrollment_ids))
        session.exec(statement.execution_options(populate_existing=True)).all()


def load_events(session: Session, *, messages: Iterable[Message]) -> None:
    """Read the events that led to a batch's messages in one query, for their drafts."""
    event_ids = {message.event_id for message in messages if message.event_id}
    if event_ids:
        session.exec(select(Event).where(col(Event.id).in_(event_ids))).all()


def contact_messages(session: Session, *, contact_id: str) -> Sequence[Message]:
    """A contact's messages, oldest first, for her message list and timeline."""
    statement = (
        select(Message)
        .where(Message.contact_id == contact_id)
        .order_by(col(Message.created_at), col(Message.due_at), col(Message.visit))
    )
    return session.exec(statement).all()


def message_reference(properties: Mapping[str, Any]) -> str | None:
    """The message id an event's properties name, if they name one that could exist."""
    message_id = properties.get("message_id")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 36:
        return None
    return message_id


def referenced_message(
    session: Session, *, contact_id: str, properties: Mapping[str, Any]
) -> Message | None:
    """The contact's own message an event reports on, so feedback never crosses contacts."""
    message_id = message_reference(properties)
    if message_id is None:
        return None
    statement = select(Message).where(Message.id == message_id, Message.contact_id == contact_id)
    return session.exec(statement).first()


def referenced_messages(
    session: Session, *, references: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Message]:
    """`referenced_message` for many events in one query: each (message id, contact id)
    found, so feedback never crosses contacts here either."""
    if not references:
        return {}
    statement = select(Message).where(
        col(Message.id).in_({message_id for message_id, _ in references}),
        col(Message.contact_id).in_({contact_id for _, contact_id in references}),
    )
    found = {(m.id, m.contact_id): m for m in session.exec(statement).all()}
    return {key: found[key] for key in references if key in found}


def store_feedback(session: Session, *, messages: Iterable[Message]) -> None:
    """Write the feedback columns of messages `status.record_feedback` changed in memory,
    with one statement, and keep them as stored so the session writes nothing again."""
    ordered = sorted(messages, key=lambda message: message.id)  # locked in id order
    rows = [
        {name: getattr(message, name) for name in ("id", *status.FEEDBACK)} for message in ordered
    ]
    with session.no_autoflush:  # else the session would first write them one set at a time
        update_many(session, Message, rows)
    for message in ordered:
        for name in status.FEEDBACK:
            set_committed_value(message, name, getattr(message, name))


def latest_touches(session: Session, *, contact_id: str, at: datetime) -> Sequence[Message]:
    """Her latest message sent (or held) by each journey at or before `at`, for attribution;
    ties on the send time go to the larger id, as everywhere."""
    touched = col(Message.status).in_([MessageStatus.SENT, MessageStatus.HELD])
    ranked = (
        select(
            col(Message.id).label("id"),
            func.row_number()
            .over(
                partition_by=col(Message.journey_id),
                order_by=(col(Message.sent_at).desc(), col(Message.id).desc()),
            )
            .label("nth"),
        )
        .where(Message.contact_id == contact_id, touched, col(Message.sent_at) <= at)
        .subquery("ranked")
    )
    statement = select(Message).join(ranked, ranked.c.id == Message.id).where(ranked.c.nth == 1)
    return session.exec(statement).all()


def in_holdout(session: Session, *, message: Message) -> bool:
    """Whether the message belongs to a holdout enrollment, so it is held, never sent."""
    enrollment = session.get(Enrollment, message.enrollment_id)
    return enrollment is not None and enrollment.holdout


def recent_send_times(
    session: Session,
    *,
    contact_id: str,
    since: datetime,
    now: datetime,
    exclude_id: str,
    include_held: bool = False,
) -> list[datetime]:
    """Her recent sends (not webhooks) for the cap, counting leased ones as going out now.

    Real sends only, unless `include_held`: a held message reached nobody, so it never delays
    a real one; a held message itself counts both, so it waits as a real one would have."""
    sent = [MessageStatus.SENT, MessageStatus.HELD] if include_held else [MessageStatus.SENT]
    statement = select(Message.status, Message.sent_at).where(
        Message.contact_id == contact_id,
        Message.channel != "webhook",
        Message.id != exclude_id,
        or_(
            col(Message.status).in_(sent) & (col(Message.sent_at) > since),
            (col(Message.status) == MessageStatus.PENDING) & (col(Message.claimed_until) > now),
            col(Message.status) == MessageStatus.SENDING,
        ),
    )
    if not include_held:  # a holdout's message leased now will be held, not sent
        held = select(Enrollment.id).where(
            Enrollment.contact_id == contact_id, col(Enrollment.holdout).is_(True)
        )
        statement = statement.where(col(Message.enrollment_id).not_in(held))
    rows = session.exec(statement).all()
    return sorted(sent_at if sent_at is not None else now for _status, sent_at in rows)


def has_sent(session: Session, *, enrollment_id: str, channel: str) -> bool:
    """Whether the enrollment sent on the channel, so only its first text says STOP."""
    statement = select(Message.id).where(
        Message.enrollment_id == enrollment_id,
        Message.channel == channel,
        col(Message.status).in_([MessageStatus.SENT, MessageStatus.HELD]),
    )
    return session.exec(statement.limit(1)).first() is not None


def add_note(
    session: Session, *, contact: Contact, message: Message, note: str, at: datetime
) -> None:
    """Say on her timeline why a message waits; the contact is locked (its sequence moves)."""
    contact.history_seq += 1
    session.add(contact)
    session.add(
        Note(
            contact_id=contact.id,
            message_id=message.id,
            journey_id=message.journey_id,
            stage=message.stage,
            text=note,
            at=at,
            seq=contact.history_seq,
        )
    )


def contact_notes(session: Session, *, contact_id: str) -> Sequence[Note]:
    """A contact's scheduler notes in order, for her timeline."""
    statement = select(Note).where(Note.contact_id == contact_id).order_by(col(Note.seq))
    return session.exec(statement).all()


def move_messages(
    session: Session, *, contact_id: str, into: str, enrollments: Mapping[str, str]
) -> dict[str, str]:
    """Erasure: her messages and notes, under new random ids for `into` (old message id ->
    new), their content gone. Status and times stay, so journey figures stay true; the ids
    providers and links know lead nowhere."""
    notes = session.exec(
        select(Note.id, Note.message_id).where(Note.contact_id == contact_id)
    ).all()
    session.execute(
        update(Note)
        .where(col(Note.contact_id) == contact_id)
        .values(message_id=None)
        .execution_options(synchronize_session=False)
    )
    messages = session.exec(
        select(Message.id, Message.enrollment_id, Message.stage, Message.visit).where(
            Message.contact_id == contact_id
        )
    ).all()
    moved: dict[str, str] = {}
    for message_id, old_enrollment, stage, visit in messages:
        moved[message_id] = new_id()
        enrollment_id = enrollments[old_enrollment]
        session.execute(
            update(Message)
            .where(col(Message.id) == message_id)
            .values(
                id=moved[message_id],
                idempotency_key=f"{enrollment_id}:{stage}:{visit}",
                contact_id=into,
                enrollment_id=enrollment_id,
                **dict.fromkeys(ERASED_CONTENT),
            )
            .execution_options(synchronize_session=False)
        )
    for note_id, noted in notes:
        session.execute(
            update(Note)
            .where(col(Note.id) == note_id)
            .values(contact_id=into, message_id=moved.get(noted or ""))
            .execution_options(synchronize_session=False)
        )
    return moved
