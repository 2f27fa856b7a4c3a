"""Database: ORM tables, engine/session factory and Alembic migrations."""

from evidence.db.session import Sessions, make_engine, migrate, rows_changed, session_factory

__all__ = ["Sessions", "make_engine", "migrate", "rows_changed", "session_factory"]

from evidence.db import anpr_tables, outbox_tables  # noqa: E402,F401 - their tables are part of the schema
