"""The billing service's tables besides its event store.

- Query tables (``invoices``, ``purchase_orders``, ``quotes``): each document's
  current state, written in the same transaction as the events that changed it.
  ``seq`` is the position of the document's first event: a unique, increasing
  key for stable list pages. ``record`` is the resource as the API returns it.
- ``invoice_number_counters``: the last number handed out per workspace and
  year (see ``numbering``).
- The replica of other services' facts billing checks against
  (``billing_clients``, ``billing_projects``) and what each client merge moved
  (``replica_merge_moves``), kept by ``replica``'s event handlers.
"""
from sqlalchemy import (Boolean, Column, Index, Integer, MetaData, String, Table, Text)

from services.common.eventstore import Position
from services.common.replica import merge_moves_table as kernel_merge_moves_table

metadata = MetaData()

invoices_table = Table(
    "invoices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("seq", Position, nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("project_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("number", String(20)),
    Column("currency", String(3), nullable=False),
    Column("issue_date", String(10)),
    Column("due_date", String(10)),
    Column("owing", Boolean, nullable=False),  # outstanding amount > 0
    Column("record", Text, nullable=False),
    # The last guard of gap-free numbering: a number is never given twice.
    Index("uq_invoices_workspace_number", "workspace", "number", unique=True),
    Index("ix_invoices_client", "workspace", "client_id", "status"),
    Index("ix_invoices_workspace_seq", "workspace", "seq"),
    Column("updated_at", String(32)),  # when it last changed (the lists' updated_since)
    Index("ix_invoices_workspace_updated", "workspace", "updated_at", "seq"),
)

purchase_orders_table = Table(
    "purchase_orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("seq", Position, nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("project_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_purchase_orders_client", "workspace", "client_id", "status"),
    Index("ix_purchase_orders_workspace_seq", "workspace", "seq"),
    Column("updated_at", String(32)),  # when it last changed (the lists' updated_since)
    Index("ix_purchase_orders_workspace_updated", "workspace", "updated_at", "seq"),
)

quotes_table = Table(
    "quotes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("seq", Position, nullable=False, unique=True),
    Column("version", Integer, nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("project_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("record", Text, nullable=False),
    Index("ix_quotes_client", "workspace", "client_id", "status"),
    Index("ix_quotes_workspace_seq", "workspace", "seq"),
    Column("updated_at", String(32)),  # when it last changed (the lists' updated_since)
    Index("ix_quotes_workspace_updated", "workspace", "updated_at", "seq"),
)

invoice_number_counters_table = Table(
    "invoice_number_counters",
    metadata,
    Column("workspace", String(100), primary_key=True),
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last", Integer, nullable=False),
)

clients_replica_table = Table(
    "billing_clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("merged_into", String(36)),
)

projects_replica_table = Table(
    "billing_projects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("client_id", String(36)),
)

# What each client merge moved: the kernel's table (services/common/replica.py).
merge_moves_table = kernel_merge_moves_table
