"""Database: ORM tables, engine/session factory and Alembic migrations."""

from evidence.db.session import make_engine, migrate, session_factory

__all__ = ["make_engine", "migrate", "session_factory"]
