"""The event position an import job has written up to (see services/contacts/imports.py).

Revision ID: 0006
Revises: 0005

- ``import_jobs.position``: the position of the last event the job appended, for
  the ``Consistency-Token`` of its answers (null until it has written anything).
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("import_jobs", sa.Column("position", sa.BigInteger))


def downgrade():
    with op.batch_alter_table("import_jobs") as batch:
        batch.drop_column("position")
