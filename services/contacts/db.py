"""The contacts service's query tables (projections of the client streams)."""
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

clients_table = Table(
    "clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("tax_id", String(40)),
    Column("email", String(254)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("record", Text, nullable=False),  # the full client as JSON
)
