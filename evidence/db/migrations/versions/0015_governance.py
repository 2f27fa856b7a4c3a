"""Governance: watchlists with their authority and expiry, subjects' source, reason and expiry,
candidates' list, subject version and authority; incidents' chosen lists, retention class, review
date and investigation hold; approvals of access to old ANPR reads; markers

Revision ID: 0015
Revises: 0014
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    lists = op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=100), nullable=False, unique=True),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("authorised_by", sa.String(length=100), nullable=False),
        sa.Column("authorised_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("max_subjects", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("purged_at", TS, nullable=True),
    )
    now = datetime.now(UTC)
    if op.get_context().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    # The one list every subject was on before: its authority was never recorded.
    op.bulk_insert(lists, [{"id": 1, "name": "default", "purpose": "not recorded (the single watchlist before "
                            "schema 0015): record it with `evidence watchlist authorise default`",
                            "legal_basis": "not recorded", "category": "not recorded", "authorised_by": "not recorded",
                            "authorised_at": now, "expires_at": None, "max_subjects": 10000,
                            "created_by": "schema upgrade 0015", "created_at": now, "purged_at": None}])
    if op.get_context().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('watchlists', 'id'), 1)")
        op.drop_constraint("watchlist_subjects_name_key", "watchlist_subjects", type_="unique")
        naming = None
    else:
        naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with op.batch_alter_table("watchlist_subjects", naming_convention=naming) as b:
        if naming:
            b.drop_constraint("uq_watchlist_subjects_name", type_="unique")
        b.add_column(sa.Column("watchlist_id", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("source", sa.String(length=200), nullable=True))
        b.add_column(sa.Column("reason", sa.Text(), nullable=True))
        b.add_column(sa.Column("expires_at", TS, nullable=True))
        b.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        b.add_column(sa.Column("purged_at", TS, nullable=True))
        b.create_foreign_key("fk_watchlist_subjects_watchlist_id", "watchlists", ["watchlist_id"], ["id"])
        b.create_unique_constraint("uq_subject_list_name", ["watchlist_id", "name"])
        b.create_index("ix_watchlist_subjects_watchlist_id", ["watchlist_id"])
    with op.batch_alter_table("watchlist_subjects") as b:
        b.alter_column("watchlist_id", server_default=None)
    with op.batch_alter_table("candidates") as b:
        b.add_column(sa.Column("watchlist_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("subject_version", sa.Integer(), nullable=True))
        b.add_column(sa.Column("authority", sa.String(length=100), nullable=True))
        b.create_foreign_key("fk_candidates_watchlist_id", "watchlists", ["watchlist_id"], ["id"])
    # Candidates raised before: on that one list, its authority not recorded.
    op.execute("UPDATE candidates SET watchlist_id = 1, subject_version = 1, authority = 'not recorded'")
    with op.batch_alter_table("incidents") as b:
        b.add_column(sa.Column("watchlists", sa.JSON(), nullable=True))
        b.add_column(sa.Column("retention_class", sa.String(length=32), nullable=True))
        b.add_column(sa.Column("review_at", TS, nullable=True))
        b.add_column(sa.Column("hold", sa.JSON(), nullable=True))
    op.create_table(
        "anpr_access",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_role", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id", ondelete="SET NULL"), nullable=True),
    )
    markers = op.create_table(
        "markers",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    # There from the start, so concurrent bumps only ever update it (a row lock, not an insert race).
    op.bulk_insert(markers, [{"name": "face_index_epoch", "value": 0, "at": now}])


def downgrade() -> None:
    op.drop_table("markers")
    op.drop_table("anpr_access")
    with op.batch_alter_table("incidents") as b:
        for c in ("hold", "review_at", "retention_class", "watchlists"):
            b.drop_column(c)
    with op.batch_alter_table("candidates") as b:
        b.drop_constraint("fk_candidates_watchlist_id", type_="foreignkey")
        for c in ("authority", "subject_version", "watchlist_id"):
            b.drop_column(c)
    with op.batch_alter_table("watchlist_subjects") as b:
        b.drop_index("ix_watchlist_subjects_watchlist_id")
        b.drop_constraint("uq_subject_list_name", type_="unique")
        b.drop_constraint("fk_watchlist_subjects_watchlist_id", type_="foreignkey")
        for c in ("purged_at", "version", "expires_at", "reason", "source", "watchlist_id"):
            b.drop_column(c)
        b.create_unique_constraint("uq_watchlist_subjects_name", ["name"])
    op.drop_table("watchlists")
