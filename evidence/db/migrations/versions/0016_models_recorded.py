"""Models recorded: the embedder that made each face track's and watchlist reference's vectors
(vectors of two embedders are never compared), and the country a plate sighting's reader placed it in

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Every vector stored before this revision was made by dlib's ResNet (the only embedder there was).
EMBEDDER = "dlib-resnet-v1"


def upgrade() -> None:
    for table in ("face_tracks", "watchlist_references"):
        # (SQLite re-makes the table to drop the default: face track ids stay AUTOINCREMENT, 0010.)
        kwargs = {"sqlite_autoincrement": True} if table == "face_tracks" else {}
        with op.batch_alter_table(table) as b:
            b.add_column(sa.Column("embedder", sa.String(length=100), nullable=False, server_default=EMBEDDER))
        with op.batch_alter_table(table, table_kwargs=kwargs) as b:  # from now on every writer says which embedder
            b.alter_column("embedder", server_default=None)
    op.create_index("ix_face_tracks_embedder", "face_tracks", ["embedder"])
    with op.batch_alter_table("plate_sightings") as b:
        b.add_column(sa.Column("region", sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_index("ix_face_tracks_embedder", "face_tracks")
    with op.batch_alter_table("plate_sightings") as b:
        b.drop_column("region")
    for table in ("watchlist_references", "face_tracks"):
        with op.batch_alter_table(table) as b:
            b.drop_column("embedder")
