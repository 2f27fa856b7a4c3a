"""The audit chain's head row: appends lock it, so concurrent appends cannot fork the chain, and a
deleted last entry no longer matches it

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    )
    bind = op.get_bind()
    entries = bind.execute(sa.text("SELECT count(*) FROM audit_log")).scalar() or 0
    last = bind.execute(sa.text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
    op.bulk_insert(head, [{"id": 1, "entries": entries, "hash": last or GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_head")
