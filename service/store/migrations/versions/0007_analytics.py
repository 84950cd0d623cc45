"""Analytics: each message's feedback facts (when it was first delivered, opened, clicked,
bounced, complained about, unsubscribed from or failed, backfilled from the events tied back
to it); orders by time, feedback by message, last touches by contact, each enrollment's
moves in order, and the goal and exit moves alone, by index."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision, down_revision = "0007", "0006"

INDEXES = [
    ("ix_events_type_time", "events", ["type", "time", "contact_id"]),
    ("ix_events_journey_message", "events", ["journey_id", "message_id", "type"]),
    (
        "ix_messages_contact_journey_sent",
        "messages",
        ["contact_id", "journey_id", "sent_at", "id", "status", "version"],
    ),
    (
        "ix_transitions_journey_enrollment_seq",
        "transitions",
        ["journey_id", "enrollment_id", "seq", "version", "at", "to_stage", "trigger"],
    ),
]
# Partial indexes of the few goal and exit moves.
PARTIAL = [
    ("ix_transitions_goals", ["journey_id", "enrollment_id", "at", "version"], "goal"),
    ("ix_transitions_exits", ["journey_id", "at", "trigger", "version"], "exit"),
]


# The event types that mean a message reached each status, as delivery/status.py REACHED
# reads at this revision (a click implies delivery and an open).
REACHED = {
    "delivered": ["email.clicked", "email.delivered", "email.opened", "sms.delivered"],
    "opened": ["email.clicked", "email.opened"],
    "clicked": ["email.clicked"],
    "bounced": ["email.bounced"],
    "complained": ["email.complained"],
    "unsubscribed": ["email.unsubscribed"],
    "failed": ["email.dropped", "sms.failed"],
}


def _backfill() -> None:
    """Each message's first time at each status, from the events already tied back to it."""
    firsts = ", ".join(
        f"MIN(CASE WHEN type IN ({', '.join(repr(t) for t in kinds)}) THEN time END) AS {name}"
        for name, kinds in REACHED.items()
    )
    sets = ", ".join(f"{name}_at = feedback.{name}" for name in REACHED)
    op.execute(
        f"""UPDATE messages SET {sets}
        FROM (SELECT message_id, {firsts} FROM events WHERE message_id IS NOT NULL
              GROUP BY message_id) AS feedback
        WHERE feedback.message_id = messages.id"""
    )


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        for name in REACHED:
            batch.add_column(sa.Column(f"{name}_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    for name, columns, kind in PARTIAL:
        where = sa.text(f"trigger LIKE '{kind}:%'")
        op.create_index(
            name, "transitions", columns, postgresql_where=where, sqlite_where=where
        )


def downgrade() -> None:
    for name, _columns, _kind in reversed(PARTIAL):
        op.drop_index(name, table_name="transitions")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("messages") as batch:
        for name in reversed(REACHED):
            batch.drop_column(f"{name}_at")
