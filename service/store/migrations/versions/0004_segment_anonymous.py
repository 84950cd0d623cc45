"""Anonymous visitors: ids tied to contacts, and events waiting for an identify."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    op.create_table(
        "anonymous_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("anonymous_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anonymous_events")),
        sa.UniqueConstraint(
            "source", "event_id", name=op.f("uq_anonymous_events_source_event_id")
        ),
    )
    with op.batch_alter_table("anonymous_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anonymous_events_anonymous_id"), ["anonymous_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_anonymous_events_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "anonymous_ids",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("anonymous_id", sa.String(length=200), nullable=False),
        sa.Column("contact_id", sa.String(length=36), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_anonymous_ids_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anonymous_ids")),
        sa.UniqueConstraint("anonymous_id", name=op.f("uq_anonymous_ids_anonymous_id")),
    )
    with op.batch_alter_table("anonymous_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anonymous_ids_contact_id"), ["contact_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("anonymous_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_ids_contact_id"))
    op.drop_table("anonymous_ids")
    with op.batch_alter_table("anonymous_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_events_received_at"))
        batch_op.drop_index(batch_op.f("ix_anonymous_events_anonymous_id"))
    op.drop_table("anonymous_events")
