"""Event store and inbox.

Revision ID: 0001
Revises:
"""
from services.common.eventstore import create_event_store_tables
from services.common.inbox import create_inbox_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    from alembic import op

    bind = op.get_bind()
    create_event_store_tables(bind)
    create_inbox_tables(bind)


def downgrade():
    pass
