"""Analytics: orders by time, feedback by message, last touches by contact, and each
enrollment's moves in order, by index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = [
    ("ix_events_type_time", "events", ["type", "time", "contact_id"]),
    ("ix_events_journey_message", "events", ["journey_id", "message_id", "type"]),
    (
        "ix_messages_contact_journey_sent",
        "messages",
        ["contact_id", "journey_id", "sent_at", "status", "version"],
    ),
    (
        "ix_transitions_journey_enrollment_seq",
        "transitions",
        ["journey_id", "enrollment_id", "seq", "version", "at", "to_stage", "trigger"],
    ),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
