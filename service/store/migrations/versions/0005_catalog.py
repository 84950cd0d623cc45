"""Journey catalog: which stored versions are current, and a generation bumped on reload."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0005", "0004"


def upgrade() -> None:
    with op.batch_alter_table("journey_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("current", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "journey_catalog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_catalog")),
    )


def downgrade() -> None:
    op.drop_table("journey_catalog")
    with op.batch_alter_table("journey_versions", schema=None) as batch_op:
        batch_op.drop_column("current")
