"""The video streams an administrator registered for an ANPR agent's key (its cameras are
<key name>/<stream id>; reads and heartbeats for any other stream are refused)

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as b:
        b.add_column(sa.Column("streams", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as b:
        b.drop_column("streams")
