"""The legal name and tax id an erased client's issued invoices keep (docs/privacy.md).

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    from services.billing.parties import create_invoice_parties_table

    create_invoice_parties_table(op.get_bind())


def downgrade():
    op.drop_table("invoice_parties")
