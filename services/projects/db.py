"""The projects service's tables besides its event store and inbox.

Query tables (``projects``, ``time_entries``, ``tasks``) are projections of the
project streams, written in the transaction that appends the events
(``queries.apply_events``). ``known_clients`` and ``replica_merge_moves`` are the
replica of the contacts service that the consumer keeps (``replica``).

Hours are stored as whole hundredths (``centihours``) so that totals are exact
sums on SQLite and PostgreSQL alike.
"""
from sqlalchemy import (Boolean, Column, Index, Integer, MetaData, PrimaryKeyConstraint, String,
                        Table, Text)

from services.common.eventstore import Position
from services.common.replica import merge_moves_table as kernel_merge_moves_table

metadata = MetaData()

projects_table = Table(
    "projects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", Position, nullable=False),  # of the stream's last event
    Column("name", String(200), nullable=False),
    Column("code", String(50)),
    Column("client_id", String(36)),
    Column("status", String(20), nullable=False),
    Column("start_date", String(10)),
    Column("end_date", String(10)),
    Column("budget_hours", String(20)),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("total_centihours", Integer, nullable=False),
    Column("open_tasks", Integer, nullable=False),
    Column("task_count", Integer, nullable=False),
    Column("search", Text, nullable=False),  # name and code folded for case and accents
    Index("ix_projects_workspace_created", "workspace", "created_at", "id"),
    Index("ix_projects_workspace_client", "workspace", "client_id"),
)

time_entries_table = Table(
    "time_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("client_id", String(36)),  # the project's client when the time was logged
    Column("date", String(10), nullable=False),
    Column("centihours", Integer, nullable=False),
    Column("description", Text),
    Column("logged_at", String(32), nullable=False),
    Column("actor", String(200)),
    Column("position", Position, nullable=False),
    Index("ix_time_entries_project", "project_id", "position"),
)

tasks_table = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("due_date", String(10)),
    Column("status", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("position", Position, nullable=False),  # of the TaskAdded event
    Index("ix_tasks_project", "project_id", "position"),
)

known_clients_table = Table(
    "known_clients",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("merged_into", String(36)),
)

# Which projects a client merge moved: the kernel's table (services/common/replica.py).
merge_moves_table = kernel_merge_moves_table
