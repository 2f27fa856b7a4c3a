"""Incidents are closed (and reopened) with a reason, and assigned to a named member of staff

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as b:
        b.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="open"))
        b.add_column(sa.Column("closed", sa.JSON(), nullable=True))
        b.add_column(sa.Column("assigned_to", sa.String(length=100), nullable=True))
        b.create_index("ix_incidents_status", ["status"])
        b.create_index("ix_incidents_assigned_to", ["assigned_to"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as b:
        b.drop_index("ix_incidents_assigned_to")
        b.drop_index("ix_incidents_status")
        b.drop_column("assigned_to")
        b.drop_column("closed")
        b.drop_column("status")
