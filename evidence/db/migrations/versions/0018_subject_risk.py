"""A watchlist subject's risk (warning markers an officer must know before approaching them)

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("watchlist_subjects") as b:
        b.add_column(sa.Column("risk", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("watchlist_subjects") as b:
        b.drop_column("risk")
