"""The errors.csv of finished imports, made once (see services/contacts/imports.py).

Revision ID: 0005
Revises: 0004

- ``import_job_reports``: the report of a finished job, kept so that it is read in
  parts without parsing the whole file again for each part.
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_job_reports",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )


def downgrade():
    op.drop_table("import_job_reports")
