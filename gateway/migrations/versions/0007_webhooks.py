"""Webhooks: subscriptions, the event feed, deliveries and their lanes, attempts,
and the webhooks consumer's inbox.

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from gateway.webhooks import tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = (tables.subscriptions, tables.events, tables.feed_head, tables.deliveries,
          tables.lanes, tables.attempts)


def upgrade():
    bind = op.get_bind()
    tables.metadata.create_all(bind, tables=list(TABLES))
    tables.inbox_tables.create(bind)
    op.execute("INSERT INTO webhook_feed_head (id, seq) VALUES (1, 0)")


def downgrade():
    bind = op.get_bind()
    tables.inbox_tables.metadata.drop_all(bind)
    tables.metadata.drop_all(bind, tables=list(reversed(TABLES)))
