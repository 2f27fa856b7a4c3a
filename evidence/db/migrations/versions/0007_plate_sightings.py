"""Plate sightings in footage

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plate_sightings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("evidence_id", sa.Integer(), sa.ForeignKey("evidence.id", ondelete="CASCADE"), nullable=False),
        sa.Column("segment", sa.Integer(), nullable=False),
        sa.Column("sighting_index", sa.Integer(), nullable=False),
        sa.Column("vrm", sa.String(length=16), nullable=False),
        sa.Column("vrm_key", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=24), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("first_t_s", sa.Float(), nullable=False),
        sa.Column("last_t_s", sa.Float(), nullable=False),
        sa.Column("best_t_s", sa.Float(), nullable=False),
        sa.Column("best_xyxy", sa.JSON(), nullable=False),
        sa.Column("n_reads", sa.Integer(), nullable=False),
        sa.Column("reads", sa.JSON(), nullable=False),
        sa.Column("crop_id", sa.Integer(), sa.ForeignKey("derivatives.id"), nullable=True),
        sa.Column("overview_id", sa.Integer(), sa.ForeignKey("derivatives.id"), nullable=True),
        sa.Column("made_by", sa.JSON(), nullable=False),
        sa.Column("review_state", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("evidence_id", "sighting_index", name="uq_plate_sighting_index"),
    )
    op.create_index("ix_plate_sightings_evidence_id", "plate_sightings", ["evidence_id"])
    op.create_index("ix_plate_sightings_vrm_key", "plate_sightings", ["vrm_key"])
    op.create_index("ix_plate_sightings_review_state", "plate_sightings", ["review_state"])


def downgrade() -> None:
    op.drop_table("plate_sightings")
