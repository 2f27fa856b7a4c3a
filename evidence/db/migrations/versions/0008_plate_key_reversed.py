"""Reversed plate confusion keys, indexed: a search ending in letters (``*CDE``, ``?B12CDE``) reads
an index range instead of every row

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("anpr_reads", "plate_sightings")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("vrm_key_rev", sa.String(length=16), nullable=True))
        keys = op.get_bind().execute(sa.text(f"SELECT id, vrm_key FROM {table}")).all()
        if keys:
            op.get_bind().execute(sa.text(f"UPDATE {table} SET vrm_key_rev = :rev WHERE id = :id"),
                                  [{"id": i, "rev": k[::-1]} for i, k in keys])
        op.create_index(f"ix_{table}_vrm_key_rev", table, ["vrm_key_rev"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_vrm_key_rev", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("vrm_key_rev")
