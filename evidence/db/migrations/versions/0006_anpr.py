"""ANPR camera reads and the hotlist

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anpr_reads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vrm_read", sa.String(length=16), nullable=False),
        sa.Column("vrm", sa.String(length=16), nullable=False),
        sa.Column("vrm_key", sa.String(length=16), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("location", sa.JSON(), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("plate_image", sa.String(length=500), nullable=True),
        sa.Column("overview_image", sa.String(length=500), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("camera_id", "vrm_read", "read_at", name="uq_anpr_read"),
    )
    op.create_index("ix_anpr_reads_vrm_key", "anpr_reads", ["vrm_key"])
    op.create_index("ix_anpr_reads_read_at", "anpr_reads", ["read_at"])
    op.create_table(
        "hotlist",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("vrm", sa.String(length=16), nullable=False),
        sa.Column("vrm_key", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_hotlist_vrm_key", "hotlist", ["vrm_key"])
    op.create_index("ix_hotlist_incident_id", "hotlist", ["incident_id"])


def downgrade() -> None:
    op.drop_table("hotlist")
    op.drop_table("anpr_reads")
