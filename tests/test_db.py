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


def test_upgrading_a_database_in_use_keeps_every_row(database_url):
    """From the previous release's schema (0009) with a reviewed candidate on a face track: the
    upgrade rebuilds face_tracks on SQLite, and nothing that refers to it may go with it."""
    from alembic import command

    engine = make_engine(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
        rows = [
            "INSERT INTO incidents (id, reference, title, created_at) VALUES (1, 'INC-1', '', '2026-11-30 10:00:00')",
            "INSERT INTO evidence (id, incident_id, sha256, original_name, size_bytes, store_path, media, state, "
            "progress, provenance, received_at, attempts) VALUES (1, 1, 'a', 'c.mp4', 1, 'x', '{}', 'done', 1, '{}', "
            "'2026-11-30 10:00:00', 0)",
            "INSERT INTO face_tracks (id, evidence_id, track_index, first_t_s, last_t_s, best_t_s, best_xyxy, "
            "n_detections, quality, closed, embeddings, segment) VALUES (1, 1, 0, 0, 1, 0.5, '[0,0,1,1]', 2, 1, "
            "true, '', 0)",
            "INSERT INTO watchlist_subjects (id, name, created_at, created_by) VALUES (1, 'A', '2026-11-30 10:00:00', '')",
            "INSERT INTO candidates (id, evidence_id, track_id, subject_id, rank, distance, score, threshold, "
            "model_version, t_s, review_state, reviewed_by, review_reason, created_at) VALUES (1, 1, 1, 1, 1, 0.4, "
            "0.6, 0.5, 'm', 0.5, 'confirmed', 'PC 1234 Smith', 'matches', '2026-11-30 10:00:00')",
        ]
        for sql in rows:
            conn.exec_driver_sql(sql)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT review_state, reviewed_by FROM candidates").all() == [
            ("confirmed", "PC 1234 Smith")]
        assert conn.exec_driver_sql("SELECT count(*) FROM face_tracks").scalar() == 1
    engine.dispose()
