"""Scheduler notes (frequency-cap delays) kept apart from transitions."""

import sqlalchemy as sa
from alembic import op

from service.store.migrations.tables import column, create_table, key, moment, string

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    create_table(
        "notes",
        key("contact_id"),
        key("message_id", nullable=True),
        string("journey_id", 200),
        string("stage", 200),
        string("text", 500),
        moment("at"),
        column("seq", sa.Integer()),
        references={"contact_id": "contacts", "message_id": "messages"},
        indexed=["contact_id"],
    )


def downgrade() -> None:
    op.drop_table("notes")  # and its index
