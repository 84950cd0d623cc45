"""A contact's latest messages and clicks, newest first, read with a limit for screen-pops."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from service.store.models import Event, Message


def latest_messages(session: Session, *, contact_id: str, limit: int) -> Sequence[Message]:
    """Her most recent messages, by when they went out (or are due)."""
    when = func.coalesce(col(Message.sent_at), col(Message.due_at))
    statement = (
        select(Message)
        .where(Message.contact_id == contact_id)
        .order_by(when.desc(), col(Message.created_at).desc())
        .limit(limit)
    )
    return session.exec(statement).all()


def latest_events(session: Session, *, contact_id: str, type: str, limit: int) -> Sequence[Event]:
    """Her most recent events of one type."""
    statement = (
        select(Event)
        .where(Event.contact_id == contact_id, Event.type == type)
        .order_by(col(Event.time).desc(), col(Event.received_at).desc())
        .limit(limit)
    )
    return session.exec(statement).all()
