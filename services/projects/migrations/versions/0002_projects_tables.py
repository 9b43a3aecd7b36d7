"""Query tables (projects, time entries, tasks) and the contacts replica.

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


def upgrade():
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("position", Position, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code", sa.String(50)),
        sa.Column("client_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_date", sa.String(10)),
        sa.Column("end_date", sa.String(10)),
        sa.Column("budget_hours", sa.String(20)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("total_centihours", sa.Integer, nullable=False),
        sa.Column("open_tasks", sa.Integer, nullable=False),
        sa.Column("task_count", sa.Integer, nullable=False),
        sa.Column("search", sa.Text, nullable=False),
    )
    op.create_index("ix_projects_workspace_created", "projects",
                    ["workspace", "created_at", "id"])
    op.create_index("ix_projects_workspace_client", "projects", ["workspace", "client_id"])

    op.create_table(
        "time_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("client_id", sa.String(36)),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("centihours", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("logged_at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("position", Position, nullable=False),
    )
    op.create_index("ix_time_entries_project", "time_entries", ["project_id", "position"])

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("due_date", sa.String(10)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("position", Position, nullable=False),
    )
    op.create_index("ix_tasks_project", "tasks", ["project_id", "position"])

    op.create_table(
        "known_clients",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("archived", sa.Boolean, nullable=False),
        sa.Column("merged_into", sa.String(36)),
    )

    op.create_table(
        "merge_moves",
        sa.Column("merge_id", sa.String(100), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("from_client_id", sa.String(36), nullable=False),
        sa.Column("to_client_id", sa.String(36), nullable=False),
        sa.Column("undone", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("merge_id", "project_id"),
    )


def downgrade():
    for table in ("merge_moves", "known_clients", "tasks", "time_entries", "projects"):
        op.drop_table(table)
