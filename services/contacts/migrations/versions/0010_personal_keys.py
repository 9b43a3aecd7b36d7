"""The key of each client's personal data (crypto-shredding, docs/privacy.md).

Revision ID: 0010
Revises: 0009
"""
from services.common.personal import create_personal_keys_table

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    from alembic import op

    create_personal_keys_table(op.get_bind())


def downgrade():
    from alembic import op

    op.drop_table("personal_keys")
