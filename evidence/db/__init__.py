"""Database: ORM tables, engine/session factory and Alembic migrations."""

from evidence.db.session import Sessions, make_engine, migrate, rows_changed, session_factory

__all__ = ["Sessions", "make_engine", "migrate", "rows_changed", "session_factory"]
