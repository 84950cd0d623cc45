"""Anonymous visitors: ids tied to contacts, and events waiting for an identify."""

import sqlalchemy as sa
from alembic import op

from service.store.migrations.tables import column, create_table, key, moment, string

revision, down_revision = "0004", "0003"


def upgrade() -> None:
    create_table(
        "anonymous_events",
        string("source", 100),
        string("event_id", 200),
        string("anonymous_id", 200),
        string("type", 100),
        moment("time"),
        column("properties", sa.JSON()),
        column("attributes", sa.JSON()),
        moment("received_at"),
        unique=[["source", "event_id"]],
        indexed=["anonymous_id", "received_at"],
    )
    create_table(
        "anonymous_ids",
        string("anonymous_id", 200),
        key("contact_id"),
        moment("linked_at"),
        references={"contact_id": "contacts"},
        unique=[["anonymous_id"]],
        indexed=["contact_id"],
    )


def downgrade() -> None:
    # Each table's indexes go with it.
    op.drop_table("anonymous_ids")
    op.drop_table("anonymous_events")
