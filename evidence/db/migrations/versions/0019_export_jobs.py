"""Evidence packages made in the background, with their progress (one at a time per incident)

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("redact", sa.Boolean(), nullable=False),
        sa.Column("redact_plates", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("step", sa.String(length=300), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_export_jobs_incident_id", "export_jobs", ["incident_id"])
    op.create_index("uq_export_jobs_running", "export_jobs", ["incident_id"], unique=True,
                    sqlite_where=sa.text("state = 'running'"), postgresql_where=sa.text("state = 'running'"))


def downgrade() -> None:
    op.drop_index("uq_export_jobs_running", table_name="export_jobs")
    op.drop_index("ix_export_jobs_incident_id", table_name="export_jobs")
    op.drop_table("export_jobs")
