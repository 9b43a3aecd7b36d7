"""Tokens, inbox and the client part of the overview read model.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from services.common.inbox import create_inbox_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    create_inbox_tables(op.get_bind())
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
    )
    op.create_table(
        "overview_clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("tax_id", sa.String(40)),
        sa.Column("email", sa.String(254)),
        sa.Column("phone", sa.String(32)),
        sa.Column("country", sa.String(2)),
        sa.Column("category", sa.String(100)),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("merged_into", sa.String(36)),
    )


def downgrade():
    op.drop_table("overview_clients")
    op.drop_table("api_tokens")
