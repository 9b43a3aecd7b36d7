"""The contacts service's query tables (projections of the client streams).

All of them are written in the same transaction as the events they follow, so a
command's answer and every later read agree with the event store.

- ``clients``: one row per client: the full record as JSON plus the columns the
  list filters, sorts and searches on (``sort_name`` and ``search`` are folded for
  case and accents, see ``validation.search_text``).
- ``client_tags``: the folded tags of each client (the ``tag`` filter).
- ``client_match_keys``: the normalised matching keys (tax id, email, phone, folded
  name) of every non-archived client: the standing duplicate groups, and the tax id
  uniqueness check (serialised per tax id, see ``queries.tax_id_holder``).
- ``client_files``: the metadata of each client's attachments.
- ``client_timeline``: events of other services (and merges) that name a client.
- ``client_merges``: each merge, with what it changed on the survivor (for unmerge).
"""
from sqlalchemy import (BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table,
                        Text)

metadata = MetaData()

Position = BigInteger().with_variant(Integer(), "sqlite")

clients_table = Table(
    "clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("tax_id", String(40)),
    Column("email", String(254)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("archived", Boolean, nullable=False, default=False),
    Column("record", Text, nullable=False),  # the full client as JSON
    Column("phone", String(40)),
    Column("country", String(2)),
    Column("category", String(100)),
    Column("category_key", String(100)),  # folded category (filter)
    Column("merged_into", String(36)),
    Column("sort_name", String(200), nullable=False),  # folded name (sort, keyset)
    Column("search", Text, nullable=False),  # folded name, tax id, email, company name
)

client_tags_table = Table(
    "client_tags",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("tag", String(100), primary_key=True),  # folded
    Column("workspace", String(100), nullable=False),
    Index("ix_client_tags_workspace_tag", "workspace", "tag", "client_id"),
)

MATCH_KINDS = ("tax_id", "email", "phone", "name")

client_match_keys_table = Table(
    "client_match_keys",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("key", String(300), nullable=False),
    Index("ix_client_match_keys_lookup", "workspace", "kind", "key"),
)

client_files_table = Table(
    "client_files",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(36), nullable=False, index=True),
    Column("workspace", String(100), nullable=False),
    Column("name", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("uploaded_at", String(32), nullable=False),
)

client_timeline_table = Table(
    "client_timeline",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(100), nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("source", String(50), nullable=False),
    Column("position", Position, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(100), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("actor", String(200)),
    Column("data", Text, nullable=False),
    Index("ix_client_timeline_client", "workspace", "client_id", "occurred_at"),
)

client_merges_table = Table(
    "client_merges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("survivor_id", String(36), nullable=False, index=True),
    Column("merged_ids", Text, nullable=False),  # JSON list
    Column("changes", Text, nullable=False),  # JSON {field: value set on the survivor}
    Column("previous", Text, nullable=False),  # JSON {field: survivor's value before}
    Column("merged_at", String(32), nullable=False),
    Column("unmerged_at", String(32)),
)
