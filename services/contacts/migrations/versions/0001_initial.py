"""Event store, inbox and the clients query table.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

from services.common.eventstore import create_event_store_tables
from services.common.inbox import create_inbox_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    create_event_store_tables(bind)
    create_inbox_tables(bind)
    op.create_table(
        "clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tax_id", sa.String(40)),
        sa.Column("email", sa.String(254)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("clients")
