"""Idempotency keys held under a lease: a key whose holder died is taken over.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("lease_until", sa.String(32)))


def downgrade():
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("lease_until")
