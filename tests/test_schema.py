"""The ORM tables and the migrations describe the same schema: Alembic's autogenerate, run against
a database the migrations built, finds nothing to do (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sqlalchemy import Double, Float

from evidence.db import make_engine, migrate
from evidence.db.tables import Base
import pytest

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started


def _same_type(context, inspected_column, metadata_column, inspected_type, metadata_type):  # noqa: ANN001
    """SQLite keeps FLOAT and DOUBLE alike (REAL affinity; the early migrations wrote one, the later
    ones the other): only the word in the table's DDL differs. Anything else: Alembic decides."""
    reals = (Float, Double)
    if context.dialect.name == "sqlite" and isinstance(inspected_type, reals) and isinstance(metadata_type, reals):
        return False
    return None


def test_the_migrations_build_exactly_the_tables_the_code_declares(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": _same_type})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == [], "\n".join(map(str, differences))
