"""An officer's reply to an alert sent to their device (received, attending), and when

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shares") as b:
        b.add_column(sa.Column("reply", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shares") as b:
        b.drop_column("replied_at")
        b.drop_column("reply")
