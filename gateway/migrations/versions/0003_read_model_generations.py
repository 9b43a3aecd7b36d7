"""The read model moves to generation tables (rm<g>_*) for rebuilds without downtime.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_table("overview_clients")
    op.create_table(
        "read_model_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("building", sa.Integer),
        sa.Column("swapped_at", sa.String(32)),
    )


def downgrade():
    op.drop_table("read_model_state")
