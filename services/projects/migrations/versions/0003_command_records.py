"""Command records: each command's outcome, kept beside its events (exactly once).

Revision ID: 0003
Revises: 0002
"""
from services.common.application import create_command_records_table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    from alembic import op

    create_command_records_table(op.get_bind())


def downgrade():
    from alembic import op

    op.drop_table("command_records")
