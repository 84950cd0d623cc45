"""Figures: the dashboard's journey figures read from indexes alone, range first."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0010", "0009"

# Each holds every column its figure reads, led by journey, version and the time its range
# is on: the rows hold the rendered bodies (messages) or more than the figure needs, and
# reading them costs more than the count. (name, table, columns, partial condition)
INDEXES: list[tuple[str, str, list[str], str | None]] = [
    (
        "ix_messages_journey_figures",
        "messages",
        [
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
        ],
        None,
    ),
    (
        "ix_enrollments_journey_lift",
        "enrollments",
        ["journey_id", "version", "started_at", "holdout", "goal_at", "id"],
        None,
    ),
    (
        "ix_enrollments_journey_paths",
        "enrollments",
        ["journey_id", "version", "ended_at", "goal_at", "started_at", "id", "path"],
        None,
    ),
    (
        "ix_transitions_version_exits",
        "transitions",
        ["journey_id", "version", "at", "trigger"],
        "trigger LIKE 'exit:%'",
    ),
]


def upgrade() -> None:
    for name, table, columns, condition in INDEXES:
        where = None if condition is None else sa.text(condition)
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, table, _columns, _condition in reversed(INDEXES):
        op.drop_index(name, table_name=table)
