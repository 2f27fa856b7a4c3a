"""Upload links a signed-in member of staff makes for their own footage (body-worn, CCTV): the
evidence names them, not the public, as its sender

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("upload_links") as b:
        b.add_column(sa.Column("staff_role", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload_links") as b:
        b.drop_column("staff_role")
