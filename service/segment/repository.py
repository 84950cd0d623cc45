"""Anonymous ids and the events waiting for them: every query on those two tables.

Callers own the transaction; a unique race raises IntegrityError, which
Database.write_retrying answers by running the unit of work again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from service.store.intake import AnonymousEvent, AnonymousId


def linked_contact(session: Session, *, anonymous_id: str) -> str | None:
    """The contact an anonymous id was tied to, if any."""
    statement = select(AnonymousId.contact_id).where(AnonymousId.anonymous_id == anonymous_id)
    return session.exec(statement).first()


def link_anonymous_id(
    session: Session, *, anonymous_id: str, contact_id: str, now: datetime
) -> str:
    """Tie an anonymous id to a contact unless it is tied already; the contact it belongs to."""
    owner = linked_contact(session, anonymous_id=anonymous_id)
    if owner is not None:
        return owner
    session.add(AnonymousId(anonymous_id=anonymous_id, contact_id=contact_id, linked_at=now))
    session.flush()
    return contact_id


def keep_anonymous_event(
    session: Session,
    *,
    source: str,
    event_id: str,
    anonymous_id: str,
    type: str,
    time: datetime,
    properties: dict[str, Any],
    attributes: dict[str, Any],
    received_at: datetime,
    most: int,
) -> Literal["kept", "duplicate", "full"]:
    """Keep an event until its visitor is identified, unless it is a duplicate or she
    already has `most` events waiting."""
    earlier = select(AnonymousEvent.id).where(
        AnonymousEvent.source == source, AnonymousEvent.event_id == event_id
    )
    if session.exec(earlier).first() is not None:
        return "duplicate"
    waiting = select(func.count()).where(AnonymousEvent.anonymous_id == anonymous_id)
    if session.exec(waiting).one() >= most:
        return "full"
    session.add(
        AnonymousEvent(
            source=source,
            event_id=event_id,
            anonymous_id=anonymous_id,
            type=type,
            time=time,
            properties=properties,
            attributes=attributes,
            received_at=received_at,
        )
    )
    session.flush()
    return "kept"


def forget_expired(session: Session, *, received_before: datetime) -> int:
    """Drop waiting events nobody identified in time; how many."""
    result = session.execute(
        delete(AnonymousEvent).where(col(AnonymousEvent.received_at) < received_before)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def waiting_events(session: Session, *, anonymous_id: str) -> Sequence[AnonymousEvent]:
    """A visitor's waiting events in the order they happened."""
    statement = (
        select(AnonymousEvent)
        .where(AnonymousEvent.anonymous_id == anonymous_id)
        .order_by(col(AnonymousEvent.time), col(AnonymousEvent.received_at), col(AnonymousEvent.id))
    )
    return session.exec(statement).all()


def forget_event(session: Session, *, row_id: str) -> None:
    """Drop a waiting event once it was applied to its contact."""
    session.execute(delete(AnonymousEvent).where(col(AnonymousEvent.id) == row_id))
