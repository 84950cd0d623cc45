"""The tables. Every hot table carries contact_id, indexed, so it can be sharded by contact."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from service.store.columns import (
    contact_fk,
    enrollment_fk,
    json_column,
    new_id,
    partial_index,
    time_column,
)


class ConsentStatus(StrEnum):
    """Whether a contact allows messages on a channel."""

    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


class MessageStatus(StrEnum):
    """Lifecycle of one outbox row."""

    PENDING = "pending"
    SENDING = "sending"  # handed to a provider under a lease; never claimed again
    SENT = "sent"
    FAILED = "failed"
    CANCELED = "canceled"
    SUPPRESSED = "suppressed"
    HELD = "held"  # a holdout contact's message: recorded as if sent, never handed over


class Contact(SQLModel, table=True):
    """A person, known by any of her identifiers."""

    __tablename__ = "contacts"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    email: str | None = Field(default=None, unique=True, max_length=320)
    phone: str | None = Field(default=None, unique=True, max_length=20)
    external_id: str | None = Field(default=None, unique=True, max_length=200)
    persona: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = json_column()
    history_seq: int = 0  # numbers this contact's transitions, which may share a timestamp
    created_at: datetime = time_column()
    updated_at: datetime = time_column()


class Consent(SQLModel, table=True):
    """Consent and suppression for one contact on one channel; no row means allowed."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("contact_id", "channel"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    contact_id: str = contact_fk()
    channel: str = Field(max_length=20)
    status: str = Field(default=ConsentStatus.GRANTED, max_length=20)
    reason: str | None = Field(default=None, max_length=200)
    suppressed: bool = False
    suppression_reason: str | None = Field(default=None, max_length=200)
    updated_at: datetime = time_column()


class JourneyVersion(SQLModel, table=True):
    """The source of every journey version ever loaded, so enrollments keep theirs."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    journey_id: str = Field(max_length=200, index=True)
    version: str = Field(max_length=100)
    source: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(max_length=500)
    created_at: datetime = time_column()
    current: bool = False  # new entries use it; at most one per journey (journey_catalog)


class JourneyCatalog(SQLModel, table=True):
    """One row: bumped whenever the set of current versions changes, so every process sees
    a reload with one cheap read."""

    __tablename__ = "journey_catalog"

    id: int = Field(default=1, primary_key=True)
    generation: int = 0
    updated_at: datetime = time_column()


CONVERTED = "goal_at IS NOT NULL"  # the partial index of enrollments that reached the goal


class Enrollment(SQLModel, table=True):
    """One contact's pass through one journey version."""

    __tablename__ = "enrollments"
    __table_args__ = (
        Index("ix_enrollments_journey_status_stage", "journey_id", "status", "stage"),
        # The dashboard's figures read these alone: entries, endings and who is where.
        Index(
            "ix_enrollments_journey_started_at",
            "journey_id",
            "version",
            "started_at",
            "status",
            "holdout",
        ),
        Index("ix_enrollments_journey_ended_at", "journey_id", "version", "ended_at", "status"),
        Index("ix_enrollments_journey_active", "journey_id", "status", "version", "stage"),
        Index(
            "ix_enrollments_journey_waiting", "journey_id", "status", "next_due_at", "entered_at"
        ),
        # Analytics: conversions by her first goal, and the time it took.
        partial_index(
            "ix_enrollments_journey_goal",
            "journey_id",
            "version",
            "goal_at",
            "started_at",
            where=CONVERTED,
        ),
        # Analytics: the lift's entries and the paths' endings with every fact they read, so
        # neither figure reads the rows.
        Index(
            "ix_enrollments_journey_lift",
            "journey_id",
            "version",
            "started_at",
            "holdout",
            "goal_at",
            "id",
        ),
        Index(
            "ix_enrollments_journey_paths",
            "journey_id",
            "version",
            "ended_at",
            "goal_at",
            "started_at",
            "id",
            "path",
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    contact_id: str = contact_fk()
    journey_id: str = Field(max_length=200)
    version: str = Field(max_length=100)
    stage: str = Field(max_length=200)
    status: str = Field(max_length=20)
    visit: int = 1
    holdout: bool = False
    entered_at: datetime = time_column()
    clock_checked_at: datetime | None = time_column(nullable=True)
    next_due_at: datetime | None = time_column(nullable=True, index=True)
    claimed_until: datetime | None = time_column(nullable=True)
    started_at: datetime = time_column()
    ended_at: datetime | None = time_column(nullable=True)
    # Facts analytics read, kept by enrollments/visits.py as moves are written: her first
    # goal, and the stages she visited in the order of their first visit (" > "-joined).
    goal_at: datetime | None = time_column(nullable=True)
    path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Event(SQLModel, table=True):
    """A received event; (source, event_id) is unique so a redelivery has no second effect."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "event_id"),
        # Analytics: orders in a range, and the feedback tied back to a journey's messages.
        Index("ix_events_type_time", "type", "time", "contact_id"),
        Index("ix_events_journey_message", "journey_id", "message_id", "type"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    source: str = Field(max_length=100)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    time: datetime = time_column()
    contact_id: str = contact_fk()
    properties: dict[str, Any] = json_column()
    received_at: datetime = time_column()
    # The message this event is feedback on (a provider returned our id), for attribution.
    message_id: str | None = Field(default=None, max_length=36)
    journey_id: str | None = Field(default=None, max_length=200)
    stage: str | None = Field(default=None, max_length=200)


class Message(SQLModel, table=True):
    """The outbox: one row per message a stage visit asks for, sent at most once."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_due_at", "status", "due_at"),
        Index(
            "ix_messages_journey_created_at",
            "journey_id",
            "version",
            "created_at",
            "stage",
            "template",
            "channel",
            "status",
            "delivery_status",
        ),
        # Analytics: every fact the per-message figures count, read from the index alone
        # (the rows hold the rendered bodies).
        Index(
            "ix_messages_journey_figures",
            "journey_id",
            "version",
            "created_at",
            "stage",
            "template",
            "channel",
            "status",
            "sent_at",
            "goal_at",
            "delivered_at",
            "opened_at",
            "clicked_at",
            "bounced_at",
            "complained_at",
            "unsubscribed_at",
            "failed_at",
        ),
        # Attribution: a contact's messages of one journey by when they were sent.
        Index(
            "ix_messages_contact_journey_sent",
            "contact_id",
            "journey_id",
            "sent_at",
            "id",
            "status",
            "version",
        ),
        # An enrollment's messages: for its goal facts, and per channel for analytics.
        Index(
            "ix_messages_enrollment_sent",
            "enrollment_id",
            "journey_id",
            "status",
            "channel",
            "created_at",
            "version",
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    idempotency_key: str = Field(unique=True, max_length=300)
    contact_id: str = contact_fk()
    enrollment_id: str = enrollment_fk(index=False)  # ix_messages_enrollment_sent leads by it
    event_id: str | None = Field(default=None, max_length=36)
    journey_id: str = Field(max_length=200)
    version: str = Field(max_length=100)
    stage: str = Field(max_length=200)
    visit: int = 1
    channel: str = Field(max_length=20)
    template: str = Field(max_length=300)
    url: str | None = Field(default=None, max_length=2000)
    due_at: datetime = time_column(index=True)
    status: str = Field(default=MessageStatus.PENDING, max_length=20)
    subject: str | None = Field(default=None, sa_column=Column(Text))
    preheader: str | None = Field(default=None, sa_column=Column(Text))
    html: str | None = Field(default=None, sa_column=Column(Text))
    text: str | None = Field(default=None, sa_column=Column(Text))
    body: str | None = Field(default=None, sa_column=Column(Text))
    provider_message_id: str | None = Field(default=None, max_length=300)
    # What the provider last reported (delivered, opened, clicked, bounced, failed, ...).
    delivery_status: str | None = Field(default=None, max_length=20)
    # When provider feedback first said it reached each status (delivery/status.py REACHED),
    # whatever order the reports came in: what analytics counts, with no events to read.
    delivered_at: datetime | None = time_column(nullable=True)
    opened_at: datetime | None = time_column(nullable=True)
    clicked_at: datetime | None = time_column(nullable=True)
    bounced_at: datetime | None = time_column(nullable=True)
    complained_at: datetime | None = time_column(nullable=True)
    unsubscribed_at: datetime | None = time_column(nullable=True)
    failed_at: datetime | None = time_column(nullable=True)
    # The first goal its enrollment reached at or after it was sent (delivery/status.py
    # record_goal): a sent message converts when that is within the attribution window.
    goal_at: datetime | None = time_column(nullable=True)
    error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_until: datetime | None = time_column(nullable=True)
    attempts: int = 0
    sent_at: datetime | None = time_column(nullable=True)
    created_at: datetime = time_column()


PATH_SEPARATOR = " > "  # between the stages of an enrollment's `path`


class VisitEnd(StrEnum):
    """How a stage visit ended, kept on the move that began it."""

    OPEN = "open"  # she is still there
    VISIT = "visit"  # on to another stage visit (`next_stage`)
    GOAL = "goal"  # the goal ended her enrollment
    EXIT = "exit"  # an exit rule, an operator, a restart or erasure
    COMPLETED = "completed"  # she finished there (a final stage)


# The partial indexes' conditions, spelled as analytics spells them (analytics/moves.py).
GOAL_MOVES = "trigger LIKE 'goal:%'"
EXIT_MOVES = "trigger LIKE 'exit:%'"
VISIT_MOVES = "visit_end IS NOT NULL"


class TransitionRecord(SQLModel, table=True):
    """History of every move, for timelines and analytics."""

    __tablename__ = "transitions"
    __table_args__ = (
        Index(
            "ix_transitions_journey_at",
            "journey_id",
            "version",
            "at",
            "from_stage",
            "to_stage",
            "trigger",
            "enrollment_id",
        ),
        # Analytics: the few goal and exit moves, read without scanning every move.
        partial_index(
            "ix_transitions_goals", "journey_id", "enrollment_id", "at", "version", where=GOAL_MOVES
        ),
        partial_index(
            "ix_transitions_exits", "journey_id", "at", "trigger", "version", where=EXIT_MOVES
        ),
        # The same by version first, for one version's exits in a range.
        partial_index(
            "ix_transitions_version_exits",
            "journey_id",
            "version",
            "at",
            "trigger",
            where=EXIT_MOVES,
        ),
        # Analytics: the stage visits and how each ended, read from the index alone.
        partial_index(
            "ix_transitions_visits",
            "journey_id",
            "version",
            "at",
            "to_stage",
            "visit_end",
            "next_stage",
            "seconds",
            where=VISIT_MOVES,
        ),
        # Analytics: the same by stage and length, for the median and 90th percentile (and the
        # ways out) over a whole history.
        partial_index(
            "ix_transitions_visit_lengths",
            "journey_id",
            "to_stage",
            "seconds",
            "version",
            "at",
            "visit_end",
            "next_stage",
            where=VISIT_MOVES,
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    enrollment_id: str = enrollment_fk()
    contact_id: str = contact_fk()
    journey_id: str = Field(max_length=200)
    version: str = Field(max_length=100)
    from_stage: str | None = Field(default=None, max_length=200)
    to_stage: str = Field(max_length=200)
    trigger: str = Field(max_length=300)
    at: datetime = time_column()
    seq: int = 0
    # Facts of the stage visit this move began (enrollments/visits.py): how it ended (open
    # while she is there, then visit, goal, exit or completed), where to and how many seconds
    # it lasted (None while open and once completed); all None on a move that began no
    # visit (a goal, an exit, a version migration).
    visit_end: str | None = Field(default=None, max_length=20)
    next_stage: str | None = Field(default=None, max_length=200)
    seconds: float | None = None


class Attribution(SQLModel, table=True):
    """An order's revenue credited, last touch, to the message of one journey that earned it:
    decided once, when the order is recorded (enrollments/attribution.py), so no figure has
    to search for touches. One row per order and journey credited."""

    __tablename__ = "attributions"
    __table_args__ = (Index("ix_attributions_journey_at", "journey_id", "at", "version", "status"),)

    event_id: str = Field(
        sa_column=Column(String(36), ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    )
    journey_id: str = Field(primary_key=True, max_length=200)
    contact_id: str = contact_fk()
    enrollment_id: str = enrollment_fk()
    # The message credited, as it was when the order came: sent, or held for the holdout.
    message_id: str = Field(max_length=36)
    version: str = Field(max_length=100)
    stage: str = Field(max_length=200)
    template: str = Field(max_length=300)
    channel: str = Field(max_length=20)
    status: str = Field(max_length=20)
    revenue: float
    at: datetime = time_column()  # the order's time


class Note(SQLModel, table=True):
    """Something the scheduler did to a message without a move (e.g. a frequency-cap delay),
    kept apart from transitions so analytics of moves stay exact."""

    __tablename__ = "notes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    contact_id: str = contact_fk()
    message_id: str | None = Field(
        default=None,
        sa_column=Column(String(36), ForeignKey("messages.id", ondelete="CASCADE"), nullable=True),
    )
    journey_id: str = Field(max_length=200)
    stage: str = Field(max_length=200)
    text: str = Field(max_length=500)
    at: datetime = time_column()
    seq: int = 0
