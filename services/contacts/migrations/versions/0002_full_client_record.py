"""The full client record: list, search, tags, duplicates, files, timeline, merges.

Revision ID: 0002
Revises: 0001

Indexes of ``clients`` (see docs/rpc-contacts.md, "Indexes"):
- ``(workspace, sort_name, id)`` and ``(workspace, created_at, id)``: the two sort
  orders, walked with keyset pagination (no OFFSET); the second also serves the
  "date added" range filter. On PostgreSQL they INCLUDE ``archived`` and ``search``
  so that a common search term is answered by an index-only walk in sort order;
- PostgreSQL only: a pg_trgm GIN index on ``search`` (folded name, tax id, email and
  company name) so that a rare term is an index lookup, not a scan.
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _backfill(bind):
    """Fill the new columns and tables for clients written by revision 0001."""
    from services.contacts.validation import duplicate_keys, search_text

    rows = bind.execute(sa.text("SELECT id, workspace, archived, record FROM clients")).all()
    for row in rows:
        record = json.loads(row.record)
        company = record.get("company") or {}
        search = " | ".join(part for part in (
            search_text(record.get("name")), search_text(record.get("tax_id")),
            search_text(record.get("email")), search_text(company.get("name"))) if part)
        bind.execute(sa.text(
            "UPDATE clients SET sort_name = :sort_name, search = :search, phone = :phone, "
            "country = :country, category = :category, category_key = :category_key "
            "WHERE id = :id"), {
                "id": row.id, "sort_name": search_text(record.get("name"))[:200],
                "search": search, "phone": record.get("phone"),
                "country": record.get("country"), "category": record.get("category"),
                "category_key": search_text(record.get("category"))[:100] or None})
        if not row.archived:
            for kind, key in duplicate_keys(record).items():
                if key:
                    bind.execute(sa.text(
                        "INSERT INTO client_match_keys (client_id, kind, workspace, key) "
                        "VALUES (:id, :kind, :workspace, :key)"),
                        {"id": row.id, "kind": kind, "workspace": row.workspace,
                         "key": key[:300]})
        for tag in record.get("tags") or []:
            bind.execute(sa.text(
                "INSERT INTO client_tags (client_id, tag, workspace) "
                "VALUES (:id, :tag, :workspace)"),
                {"id": row.id, "tag": search_text(tag)[:100], "workspace": row.workspace})


def upgrade():
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("phone", sa.String(40)))
        batch.add_column(sa.Column("country", sa.String(2)))
        batch.add_column(sa.Column("category", sa.String(100)))
        batch.add_column(sa.Column("category_key", sa.String(100)))
        batch.add_column(sa.Column("merged_into", sa.String(36)))
        batch.add_column(sa.Column("sort_name", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("search", sa.Text, nullable=False, server_default=""))
        batch.drop_index("ix_clients_workspace")

    op.create_table(
        "client_tags",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("tag", sa.String(100), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
    )
    op.create_index("ix_client_tags_workspace_tag", "client_tags",
                    ["workspace", "tag", "client_id"])
    op.create_table(
        "client_match_keys",
        sa.Column("client_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
    )
    op.create_index("ix_client_match_keys_lookup", "client_match_keys",
                    ["workspace", "kind", "key"])
    op.create_table(
        "client_files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_client_files_client_id", "client_files", ["client_id"])
    position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "client_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("position", position, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_client_timeline_client", "client_timeline",
                    ["workspace", "client_id", "occurred_at"])
    op.create_table(
        "client_merges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("survivor_id", sa.String(36), nullable=False),
        sa.Column("merged_ids", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
        sa.Column("previous", sa.Text, nullable=False),
        sa.Column("merged_at", sa.String(32), nullable=False),
        sa.Column("unmerged_at", sa.String(32)),
    )
    op.create_index("ix_client_merges_survivor_id", "client_merges", ["survivor_id"])

    _backfill(bind)

    if postgres:
        # The folded name sorts by code point whatever the database's locale: the same
        # order on every server, and the cheapest comparisons for the sort index.
        op.execute('ALTER TABLE clients ALTER COLUMN sort_name TYPE varchar(200) COLLATE "C"')

    # Covering on PostgreSQL: a page of matches in name (or date) order is found by an
    # index-only scan that tests ``search`` on the index entries, never the table.
    include = ["archived", "search"]
    op.create_index("ix_clients_workspace_sort_name", "clients", ["workspace", "sort_name", "id"],
                    postgresql_include=include)
    op.create_index("ix_clients_workspace_created_at", "clients",
                    ["workspace", "created_at", "id"], postgresql_include=include)
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_clients_search_trgm ON clients "
                   "USING gin (search gin_trgm_ops)")
        # A finer sample of ``search`` lets the planner tell a rare term (trigram index,
        # then sort the few matches) from a common one (walk the sort index until a page
        # is full) from the term itself.
        op.execute("ALTER TABLE clients ALTER COLUMN search SET STATISTICS 1000")


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_clients_search_trgm")
    op.drop_index("ix_clients_workspace_created_at", table_name="clients")
    op.drop_index("ix_clients_workspace_sort_name", table_name="clients")
    for table in ("client_merges", "client_timeline", "client_files", "client_match_keys",
                  "client_tags"):
        op.drop_table(table)
    with op.batch_alter_table("clients") as batch:
        for column in ("search", "sort_name", "merged_into", "category_key", "category",
                       "country", "phone"):
            batch.drop_column(column)
        batch.create_index("ix_clients_workspace", ["workspace"])
