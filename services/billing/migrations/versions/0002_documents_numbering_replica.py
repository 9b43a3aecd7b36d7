"""Query tables of invoices, purchase orders and quotes; invoice number counters;
the replica of clients and projects; what each client merge moved.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _document_table(name, *extra):
    op.create_table(
        name,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("seq", Position, nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        *extra,
        sa.Column("record", sa.Text, nullable=False),
    )
    op.create_index(f"ix_{name}_client", name, ["workspace", "client_id", "status"])
    op.create_index(f"ix_{name}_workspace_seq", name, ["workspace", "seq"])


def upgrade():
    _document_table(
        "invoices",
        sa.Column("number", sa.String(20)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issue_date", sa.String(10)),
        sa.Column("due_date", sa.String(10)),
        sa.Column("owing", sa.Boolean, nullable=False),
    )
    op.create_index("uq_invoices_workspace_number", "invoices", ["workspace", "number"],
                    unique=True)
    _document_table("purchase_orders")
    _document_table("quotes")
    op.create_table(
        "invoice_number_counters",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last", sa.Integer, nullable=False),
    )
    op.create_table(
        "billing_clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("merged_into", sa.String(36)),
    )
    op.create_table(
        "billing_projects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(36)),
    )
    op.create_table(
        "merge_moves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("merge_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("document_id", sa.String(36), nullable=False),
        sa.Column("from_client_id", sa.String(36), nullable=False),
        sa.Column("to_client_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_merge_moves_merge_id", "merge_moves", ["merge_id"])


def downgrade():
    for name in ("merge_moves", "billing_projects", "billing_clients",
                 "invoice_number_counters", "quotes", "purchase_orders", "invoices"):
        op.drop_table(name)
