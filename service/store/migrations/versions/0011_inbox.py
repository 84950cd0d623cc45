"""The inbox: accepted events, stored at once and applied in order by appliers."""

import sqlalchemy as sa
from alembic import op

from service.store.migrations.tables import column, moment, string

revision, down_revision = "0011", "0010"

PENDING = "applied_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        string("source", 100),
        string("event_id", 200),
        string("type", 100),
        string("lane", 400),
        column("body", sa.JSON()),
        moment("received_at"),
        moment("applied_at", nullable=True),
        column("result", sa.JSON(), nullable=True),
        column("error", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_inbox_source_event_id")),
    )
    where = sa.text(PENDING)
    for name, columns in (("ix_inbox_pending", ["id"]), ("ix_inbox_pending_lane", ["lane", "id"])):
        op.create_index(
            op.f(name), "inbox", columns, postgresql_where=where, sqlite_where=where
        )


def downgrade() -> None:
    op.drop_table("inbox")
