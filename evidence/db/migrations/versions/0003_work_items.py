"""work items (quick pass, segments, working copy) and stitchable face tracks

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("evidence_id", sa.Integer(), sa.ForeignKey("evidence.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("evidence_id", "kind", "index", name="uq_work_item"),
    )
    op.create_index("ix_work_items_evidence_id", "work_items", ["evidence_id"])
    with op.batch_alter_table("face_tracks") as batch:
        batch.add_column(sa.Column("segment", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_xyxy", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("last_xyxy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("face_tracks") as batch:
        batch.drop_column("last_xyxy")
        batch.drop_column("first_xyxy")
        batch.drop_column("segment")
    op.drop_index("ix_work_items_evidence_id", "work_items")
    op.drop_table("work_items")
