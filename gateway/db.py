"""The gateway's own tables: API tokens and idempotency keys (the read model is in readmodel.py)."""
from sqlalchemy import Column, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text

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
    # While the status is null: until when the request holding the key is trusted
    # to finish; past it, a retry takes the key over (idempotency.py).
    Column("lease_until", String(32)),
    PrimaryKeyConstraint("workspace", "key"),
)


# Every client erased (ids only): the ledger a restored backup's erasures are re-applied
# from (gateway/erasure.py, docs/privacy.md).
client_erasures_table = Table(
    "client_erasures",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("erased_at", String(32), nullable=False),
    PrimaryKeyConstraint("workspace", "client_id"),
)
