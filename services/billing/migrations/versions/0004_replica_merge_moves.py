"""What client merges moved, in the kernel's table shared by every service.

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    from services.common.replica import create_merge_moves_table

    create_merge_moves_table(op.get_bind())
    op.execute("INSERT INTO replica_merge_moves (workspace, merge_id, kind, record_id, "
               "from_id, to_id) SELECT workspace, merge_id, kind, document_id, "
               "from_client_id, to_client_id FROM merge_moves")
    op.drop_table("merge_moves")


def downgrade():
    pass
