"""Database: ORM tables, engine/session factory and Alembic migrations."""

from evidence.db.session import (HEAD_REVISION, SchemaNotCurrent, Sessions, check_schema, make_engine, migrate, rows_changed,
                                 schema_revision, session_factory)

__all__ = ["HEAD_REVISION", "SchemaNotCurrent", "Sessions", "check_schema", "make_engine", "migrate", "rows_changed",
           "schema_revision", "session_factory"]

from evidence.db import anpr_tables, export_tables, governance_tables, outbox_tables, upload_tables  # noqa: E402,F401 - their tables are part of the schema
