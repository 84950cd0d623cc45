"""Webhooks: message tie-back on events, delivery status on messages, one-time tokens."""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0002", "0001"


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('journey_id', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('stage', sa.String(length=200), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=20), nullable=True))

    op.create_table('webhook_tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('token', sa.String(length=200), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_tokens')),
    sa.UniqueConstraint('source', 'token', name=op.f('uq_webhook_tokens_source_token'))
    )
    with op.batch_alter_table('webhook_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_tokens_seen_at'), ['seen_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_tokens_seen_at'))

    op.drop_table('webhook_tokens')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('delivery_status')

    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('stage')
        batch_op.drop_column('journey_id')
        batch_op.drop_column('message_id')
