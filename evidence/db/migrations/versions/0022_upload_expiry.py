"""Unfinished resumable uploads: the address that started one, its last piece, and when it was
removed (idle too long, or its link ended)

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resumable_uploads") as b:
        b.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True))
        b.create_index("ix_resumable_uploads_client", ["client"])


def downgrade() -> None:
    with op.batch_alter_table("resumable_uploads") as b:
        b.drop_index("ix_resumable_uploads_client")
        b.drop_column("abandoned_at")
        b.drop_column("touched_at")
        b.drop_column("client")
