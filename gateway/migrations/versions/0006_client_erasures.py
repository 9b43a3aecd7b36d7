"""The clients erased so far (ids only), re-applied after a restore (docs/privacy.md).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "client_erasures",
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("erased_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "client_id"),
    )


def downgrade():
    op.drop_table("client_erasures")
