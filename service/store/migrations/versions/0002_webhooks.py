"""Webhooks: message tie-back on events, delivery status on messages, one-time tokens."""

from alembic import op

from service.store.migrations.tables import create_table, key, moment, string

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(key("message_id", nullable=True))
        batch_op.add_column(string("journey_id", 200, nullable=True))
        batch_op.add_column(string("stage", 200, nullable=True))

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(string("delivery_status", 20, nullable=True))

    create_table(
        "webhook_tokens",
        string("source", 100),
        string("token", 200),
        string("body_sha256", 64),
        moment("seen_at"),
        unique=[["source", "token"]],
        indexed=["seen_at"],
    )


def downgrade() -> None:
    op.drop_table("webhook_tokens")  # and its index
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("delivery_status")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("stage")
        batch_op.drop_column("journey_id")
        batch_op.drop_column("message_id")
