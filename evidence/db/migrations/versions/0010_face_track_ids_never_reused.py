"""Face track ids are never reused on SQLite (AUTOINCREMENT): the face index follows ids, and a
new track given the id of a deleted one (SQLite's default after the newest row is deleted, as a
stitch or a re-run does) was never indexed

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # PostgreSQL sequences never hand an id out twice
        with op.batch_alter_table("face_tracks", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": True}) as batch:
            batch.alter_column("id")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("face_tracks", recreate="always",
                                  table_kwargs={"sqlite_autoincrement": False}) as batch:
            batch.alter_column("id")
