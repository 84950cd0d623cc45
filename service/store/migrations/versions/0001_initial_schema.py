"""Initial schema: contacts, consents, journey versions, enrollments, events, outbox, history."""

import sqlalchemy as sa
from alembic import op

from service.store.migrations.tables import column, create_table, key, moment, string

revision, down_revision = "0001", None


def upgrade() -> None:
    create_table(
        "contacts",
        string("email", 320, nullable=True),
        string("phone", 20, nullable=True),
        string("external_id", 200, nullable=True),
        string("persona", 100, nullable=True),
        string("timezone", 64, nullable=True),
        column("attributes", sa.JSON()),
        column("history_seq", sa.Integer()),
        moment("created_at"),
        moment("updated_at"),
        unique=[["email"], ["external_id"], ["phone"]],
    )
    create_table(
        "journey_versions",
        string("journey_id", 200),
        string("version", 100),
        column("source", sa.Text()),
        string("path", 500),
        moment("created_at"),
        unique=[["journey_id", "version"]],
        indexed=["journey_id"],
    )
    create_table(
        "consents",
        key("contact_id"),
        string("channel", 20),
        string("status", 20),
        string("reason", 200, nullable=True),
        column("suppressed", sa.Boolean()),
        string("suppression_reason", 200, nullable=True),
        moment("updated_at"),
        references={"contact_id": "contacts"},
        unique=[["contact_id", "channel"]],
        indexed=["contact_id"],
    )
    create_table(
        "enrollments",
        key("contact_id"),
        string("journey_id", 200),
        string("version", 100),
        string("stage", 200),
        string("status", 20),
        column("visit", sa.Integer()),
        column("holdout", sa.Boolean()),
        moment("entered_at"),
        moment("clock_checked_at", nullable=True),
        moment("next_due_at", nullable=True),
        moment("claimed_until", nullable=True),
        moment("started_at"),
        moment("ended_at", nullable=True),
        references={"contact_id": "contacts"},
        indexed=["contact_id", "next_due_at"],
        indexes={"ix_enrollments_journey_status_stage": ["journey_id", "status", "stage"]},
    )
    create_table(
        "events",
        string("source", 100),
        string("event_id", 200),
        string("type", 100),
        moment("time"),
        key("contact_id"),
        column("properties", sa.JSON()),
        moment("received_at"),
        references={"contact_id": "contacts"},
        unique=[["source", "event_id"]],
        indexed=["contact_id"],
    )
    create_table(
        "messages",
        string("idempotency_key", 300),
        key("contact_id"),
        key("enrollment_id"),
        key("event_id", nullable=True),
        string("journey_id", 200),
        string("version", 100),
        string("stage", 200),
        column("visit", sa.Integer()),
        string("channel", 20),
        string("template", 300),
        string("url", 2000, nullable=True),
        moment("due_at"),
        string("status", 20),
        column("subject", sa.Text(), nullable=True),
        column("preheader", sa.Text(), nullable=True),
        column("html", sa.Text(), nullable=True),
        column("text", sa.Text(), nullable=True),
        column("body", sa.Text(), nullable=True),
        string("provider_message_id", 300, nullable=True),
        column("error", sa.Text(), nullable=True),
        moment("claimed_until", nullable=True),
        column("attempts", sa.Integer()),
        moment("sent_at", nullable=True),
        moment("created_at"),
        references={"contact_id": "contacts", "enrollment_id": "enrollments"},
        unique=[["idempotency_key"]],
        indexed=["contact_id", "due_at", "enrollment_id"],
        indexes={"ix_messages_status_due_at": ["status", "due_at"]},
    )
    create_table(
        "transitions",
        key("enrollment_id"),
        key("contact_id"),
        string("journey_id", 200),
        string("version", 100),
        string("from_stage", 200, nullable=True),
        string("to_stage", 200),
        string("trigger", 300),
        moment("at"),
        column("seq", sa.Integer()),
        references={"contact_id": "contacts", "enrollment_id": "enrollments"},
        indexed=["contact_id", "enrollment_id"],
    )


def downgrade() -> None:
    # Each table's indexes go with it; referring tables go first.
    for table in [
        "transitions",
        "messages",
        "events",
        "enrollments",
        "consents",
        "journey_versions",
        "contacts",
    ]:
        op.drop_table(table)
