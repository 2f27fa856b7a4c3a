"""The video streams an administrator registered for an ANPR agent's key (its cameras are
<key name>/<stream id>; reads and heartbeats for any other stream are refused)

Revision ID: 0023
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as b:
        b.add_column(sa.Column("streams", sa.JSON(), nullable=True))
    # The streams each agent's key has already reported are registered for it (at most 32), so that an
    # upgrade does not silence working cameras; an administrator reviews them (`evidence keys list`).
    conn = op.get_bind()
    keys = sa.table("api_keys", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("role", sa.String),
                    sa.column("revoked_at", sa.DateTime), sa.column("streams", sa.JSON))
    cameras = sa.table("anpr_cameras", sa.column("camera_id", sa.String))
    for key_id, name in conn.execute(sa.select(keys.c.id, keys.c.name).where(keys.c.role == "camera",
                                                                             keys.c.revoked_at.is_(None))).all():
        seen = conn.execute(sa.select(cameras.c.camera_id)).scalars()
        streams = sorted({c[len(name) + 1:] for c in seen if c.startswith(name + "/")})[:32]
        if streams:
            conn.execute(sa.update(keys).where(keys.c.id == key_id).values(streams=streams))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as b:
        b.drop_column("streams")
