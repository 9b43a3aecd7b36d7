"""What an upsert import does with a blank cell (see services/contacts/imports.py).

Revision ID: 0008
Revises: 0007

- ``import_jobs.blank_cells``: ``keep`` (the stored value stays) or ``clear`` (the
  value is removed). Jobs queued before this column have null, which means ``clear``:
  what they were started with.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("import_jobs", sa.Column("blank_cells", sa.String(5)))


def downgrade():
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("blank_cells")
