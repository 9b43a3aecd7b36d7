"""The parts of large uploads (see services/contacts/uploads.py).

Revision ID: 0004
Revises: 0003

- ``upload_parts``: one row per part of a file sent in several RPC messages, until
  the command that names the upload takes them (or an hour has passed).
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "upload_parts",
        sa.Column("upload_id", sa.String(36), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("workspace", sa.String(100), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_upload_parts_created_at", "upload_parts", ["created_at"])


def downgrade():
    op.drop_index("ix_upload_parts_created_at", table_name="upload_parts")
    op.drop_table("upload_parts")
