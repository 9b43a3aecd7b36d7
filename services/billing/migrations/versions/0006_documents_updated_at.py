"""When each invoice, purchase order and quote last changed (``updated_since`` and
``sort=updated_at`` of the lists), filled in from each document's record.

Revision ID: 0006
Revises: 0005
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("invoices", "purchase_orders", "quotes")


def upgrade():
    bind = op.get_bind()
    for table in TABLES:
        op.add_column(table, sa.Column("updated_at", sa.String(32)))
        rows = bind.execute(sa.text(f"SELECT id, record FROM {table}")).all()
        for row in rows:
            record = json.loads(row.record)
            bind.execute(sa.text(f"UPDATE {table} SET updated_at = :at WHERE id = :id"),
                         {"at": record.get("updated_at") or record.get("created_at"),
                          "id": row.id})
        op.create_index(f"ix_{table}_workspace_updated", table,
                        ["workspace", "updated_at", "seq"])


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_workspace_updated", table)
        op.drop_column(table, "updated_at")
