"""Outbox, note and webhook-token rows.

Repository functions are keyword-only and take the caller's session: callers own the
transaction (Database.write); functions only read and stage rows. Each domain package keeps
its own (contacts, enrollments, catalog).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from service.store.db import insert_ignoring_conflicts
from service.store.models import (
    Contact,
    Message,
    MessageStatus,
    Note,
    WebhookToken,
    new_id,
)

IDENTIFIERS = ("email", "phone", "external_id")


# ----- messages -----------------------------------------------------------------------------


def add_message(session: Session, *, values: dict[str, Any]) -> bool:
    """Queue a message unless its idempotency key exists; True when queued."""
    return insert_ignoring_conflicts(session, Message, {"id": new_id(), **values})


def cancel_pending_messages(
    session: Session, *, enrollment_id: str, reason: str, keep_visit: int | None = None
) -> int:
    """Cancel an enrollment's unsent messages, except those of `keep_visit`; how many."""
    statement = update(Message).where(
        col(Message.enrollment_id) == enrollment_id, col(Message.status) == MessageStatus.PENDING
    )
    if keep_visit is not None:
        statement = statement.where(col(Message.visit) != keep_visit)
    result = session.execute(
        statement.values(status=MessageStatus.CANCELED, error=reason, claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def claim_due_messages(
    session: Session, *, now: datetime, lease_until: datetime, limit: int
) -> list[tuple[str, str]]:
    """Lease up to `limit` pending messages that are due; their ids and channels."""
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
            .values(claimed_until=lease_until, attempts=col(Message.attempts) + 1)
        )
    return claimed


def fail_stale_sends(session: Session, *, now: datetime, reason: str) -> int:
    """Mark failed the messages left `sending` past their lease; how many there were."""
    result = session.execute(
        update(Message)
        .where(col(Message.status) == MessageStatus.SENDING, col(Message.claimed_until) < now)
        .values(status=MessageStatus.FAILED, error=reason, claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def get_message(session: Session, *, message_id: str, lock: bool = False) -> Message | None:
    """A message by id, optionally locked."""
    statement = select(Message).where(Message.id == message_id)
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement.execution_options(populate_existing=True)).first()


def contact_messages(session: Session, *, contact_id: str) -> Sequence[Message]:
    """A contact's messages, oldest first."""
    statement = (
        select(Message)
        .where(Message.contact_id == contact_id)
        .order_by(col(Message.created_at), col(Message.due_at), col(Message.visit))
    )
    return session.exec(statement).all()


def contact_message(session: Session, *, contact_id: str, message_id: str) -> Message | None:
    """One of the contact's messages by id; None for another contact's or an unknown id."""
    statement = select(Message).where(Message.id == message_id, Message.contact_id == contact_id)
    return session.exec(statement).first()


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
    if insert_ignoring_conflicts(session, WebhookToken, {"id": new_id(), **values}):
        return True
    statement = select(WebhookToken.body_sha256).where(
        WebhookToken.source == source, WebhookToken.token == token
    )
    return session.exec(statement).first() == body_sha256


# ----- delivery rules -----------------------------------------------------------------------


def recent_send_times(
    session: Session, *, contact_id: str, since: datetime, now: datetime, exclude_id: str
) -> list[datetime]:
    """When the contact's messages to her (not webhooks) went out since `since`, oldest
    first; one leased by a worker right now counts as going out `now`."""
    statement = select(Message.status, Message.sent_at).where(
        Message.contact_id == contact_id,
        Message.channel != "webhook",
        Message.id != exclude_id,
        or_(
            (col(Message.status) == MessageStatus.SENT) & (col(Message.sent_at) > since),
            (col(Message.status) == MessageStatus.PENDING) & (col(Message.claimed_until) > now),
            col(Message.status) == MessageStatus.SENDING,
        ),
    )
    rows = session.exec(statement).all()
    return sorted(sent_at if sent_at is not None else now for _status, sent_at in rows)


def has_sent(session: Session, *, enrollment_id: str, channel: str) -> bool:
    """Whether this enrollment already sent a message on the channel."""
    statement = select(Message.id).where(
        Message.enrollment_id == enrollment_id,
        Message.channel == channel,
        Message.status == MessageStatus.SENT,
    )
    return session.exec(statement.limit(1)).first() is not None


def add_note(
    session: Session, *, contact: Contact, message: Message, note: str, at: datetime
) -> None:
    """A timeline line for a message held at its stage (e.g. by the frequency cap); the
    contact must be locked, as its history sequence advances."""
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
    """A contact's scheduler notes in order."""
    statement = select(Note).where(Note.contact_id == contact_id).order_by(col(Note.seq))
    return session.exec(statement).all()
