"""ANPR: a read's format (UK, foreign, unknown) and the camera's alternative reads; cameras' health

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("anpr_reads") as b:
        b.add_column(sa.Column("format", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("alternatives", sa.JSON(), nullable=True))
    for c in ("plate_image", "overview_image"):
        op.create_index(f"ix_anpr_reads_{c}", "anpr_reads", [c], sqlite_where=sa.text(f"{c} IS NOT NULL"),
                        postgresql_where=sa.text(f"{c} IS NOT NULL"))
    op.create_table(
        "anpr_cameras",
        sa.Column("camera_id", sa.String(length=64), primary_key=True),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_read_at", TS, nullable=True),
        sa.Column("last_heartbeat_at", TS, nullable=True),
        sa.Column("streaming", sa.Boolean(), nullable=True),
        sa.Column("status", sa.JSON(), nullable=True),
        sa.Column("silent_since", TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("anpr_cameras")
    for c in ("plate_image", "overview_image"):
        op.drop_index(f"ix_anpr_reads_{c}", "anpr_reads")
    with op.batch_alter_table("anpr_reads") as b:
        b.drop_column("alternatives")
        b.drop_column("format")
