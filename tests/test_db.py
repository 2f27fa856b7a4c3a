from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from evidence.db.session import _MIGRATIONS, HEAD_REVISION, make_engine, migrate


def test_head_revision_constant_matches_the_migrations():
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_migrate_creates_the_schema_once(database_url):
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # current: nothing to do
    tables = set(inspect(engine).get_table_names())
    assert {"incidents", "evidence", "derivatives", "face_tracks", "watchlist_subjects", "candidates",
            "audit_log"} <= tables
    engine.dispose()
