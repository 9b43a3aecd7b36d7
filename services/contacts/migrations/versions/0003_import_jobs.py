"""Import jobs: the job, its uploaded file, and the verdict of each row.

Revision ID: 0003
Revises: 0002

- ``import_jobs``: one row per import; ``checkpoint`` is the spreadsheet row number of
  the last row committed (updated in the same transaction as each batch of events);
  ``owner``/``lease_until`` let one runner among the replicas claim a job.
- ``import_job_files``: the uploaded file (kept in the database so that any replica
  can run or resume the job).
- ``import_job_rows``: each row's outcome (``created``, ``updated``, ``unchanged``,
  ``error``), the client it touched, its errors, and for updates the fields changed
  and their previous values (what ``revert`` puts back).
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("correlation_id", sa.String(100)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("mapping", sa.Text),
        sa.Column("file_name", sa.String(255)),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("columns", sa.Text),
        sa.Column("total", sa.Integer),
        sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("checkpoint", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(64)),
        sa.Column("lease_until", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(32)),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("reverted_at", sa.String(32)),
    )
    op.create_index("ix_import_jobs_status", "import_jobs", ["status"])
    op.create_table(
        "import_job_files",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "import_job_rows",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("row", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("client_id", sa.String(36)),
        sa.Column("errors", sa.Text),
        sa.Column("changes", sa.Text),
        sa.Column("previous", sa.Text),
    )
    op.create_index("ix_import_job_rows_outcome", "import_job_rows",
                    ["job_id", "outcome", "row"])


def downgrade():
    op.drop_table("import_job_rows")
    op.drop_table("import_job_files")
    op.drop_index("ix_import_jobs_status", table_name="import_jobs")
    op.drop_table("import_jobs")
