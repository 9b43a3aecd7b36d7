"""The gateway's own database: API tokens and the per-client overview read model."""
from sqlalchemy import Boolean, Column, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text

metadata = MetaData()

api_tokens_table = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("workspace", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    Column("label", String(200)),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)

overview_clients_table = Table(
    "overview_clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("tax_id", String(40)),
    Column("email", String(254)),
    Column("phone", String(32)),
    Column("country", String(2)),
    Column("category", String(100)),
    Column("archived", Boolean, nullable=False),
    Column("merged_into", String(36)),
)

idempotency_keys_table = Table(
    "idempotency_keys",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("status", Integer),  # null while the first request runs
    Column("headers", Text),
    Column("body", Text),
    PrimaryKeyConstraint("workspace", "key"),
)
