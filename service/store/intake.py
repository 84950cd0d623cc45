"""Tables of what comes in before it is applied: accepted events waiting in the inbox,
one-time webhook tokens, and anonymous visitors' ids and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.store.columns import contact_fk, json_column, new_id, partial_index, time_column


class WebhookToken(SQLModel, table=True):
    """One-time tokens of signed webhooks (Mailgun), so a captured request cannot be replayed
    with another body, across restarts and processes. Not per contact: small and short-lived."""

    __tablename__ = "webhook_tokens"
    __table_args__ = (UniqueConstraint("source", "token"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    source: str = Field(max_length=100)
    token: str = Field(max_length=200)
    body_sha256: str = Field(max_length=64)
    seen_at: datetime = time_column(index=True)


class AnonymousId(SQLModel, table=True):
    """An analytics SDK's anonymous id, tied to the contact who identified with it, so her
    anonymous events before and after that reach her. The first contact to claim it keeps it."""

    __tablename__ = "anonymous_ids"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    anonymous_id: str = Field(unique=True, max_length=200)
    contact_id: str = contact_fk()
    linked_at: datetime = time_column()


class AnonymousEvent(SQLModel, table=True):
    """An event of a visitor nobody has identified yet: kept until her anonymous id is
    identified (then applied to her journeys and deleted) or until it expires. No contact
    yet, so not sharded by one; (source, event_id) is unique as for events."""

    __tablename__ = "anonymous_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    source: str = Field(max_length=100)
    event_id: str = Field(max_length=200)
    anonymous_id: str = Field(max_length=200, index=True)
    type: str = Field(max_length=100)
    time: datetime = time_column()
    properties: dict[str, Any] = json_column()
    attributes: dict[str, Any] = json_column()
    received_at: datetime = time_column(index=True)


PENDING = "applied_at IS NULL"  # the partial indexes of inbox rows not yet applied


class InboxEvent(SQLModel, table=True):
    """An accepted event waiting for an applier: answered as soon as it is stored here, then
    applied in `id` order within its lane (her strongest identifier). Applied rows stay for
    the inbox retention, so a redelivery is still answered duplicate at once."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        # Appliers read the pending rows alone, oldest first, and each lane's oldest.
        partial_index("ix_inbox_pending", "id", where=PENDING),
        partial_index("ix_inbox_pending_lane", "lane", "id", where=PENDING),
    )

    # Integer, unlike other tables' ids: the order events were stored in is the apply order.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    source: str = Field(max_length=100)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    lane: str = Field(max_length=400)
    body: dict[str, Any] = json_column()
    # An unproven sender's event (a form naming her by email): may add attributes, never
    # change one, when applied.
    add_attributes_only: bool = False
    received_at: datetime = time_column()
    applied_at: datetime | None = time_column(nullable=True)
    # What applying it did (an event result), or why it could not be applied.
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
