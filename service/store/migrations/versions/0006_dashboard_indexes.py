"""Dashboard: a journey's entries, endings, moves, messages and stuck contacts by index."""

from alembic import op

revision, down_revision = "0006", "0005"

# Each holds every column its figures read, so a page reads an index and not the rows.
INDEXES = [
    (
        "ix_enrollments_journey_started_at",
        "enrollments",
        ["journey_id", "version", "started_at", "status", "holdout"],
    ),
    (
        "ix_enrollments_journey_ended_at",
        "enrollments",
        ["journey_id", "version", "ended_at", "status"],
    ),
    ("ix_enrollments_journey_active", "enrollments", ["journey_id", "status", "version", "stage"]),
    (
        "ix_enrollments_journey_waiting",
        "enrollments",
        ["journey_id", "status", "next_due_at", "entered_at"],
    ),
    (
        "ix_transitions_journey_at",
        "transitions",
        ["journey_id", "version", "at", "from_stage", "to_stage", "trigger", "enrollment_id"],
    ),
    (
        "ix_messages_journey_created_at",
        "messages",
        [
            "journey_id",
            "version",
            "created_at",
            "stage",
            "template",
            "channel",
            "status",
            "delivery_status",
        ],
    ),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
