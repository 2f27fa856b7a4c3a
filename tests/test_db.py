import json

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Connection, inspect, text

from cli.main import main
from evidence.db import SchemaNotCurrent
from evidence.db.session import _MIGRATIONS, HEAD_REVISION, make_engine, migrate
from evidence.runtime import Runtime
from evidence.settings import Settings


def _upgrade_to(conn: Connection, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def test_head_revision_constant_matches_the_migrations():
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_migrate_creates_the_schema_once(empty_database_url):
    engine = make_engine(empty_database_url)
    migrate(engine)
    migrate(engine)  # current: nothing to do
    tables = set(inspect(engine).get_table_names())
    assert {"incidents", "evidence", "derivatives", "face_tracks", "watchlist_subjects", "candidates",
            "audit_log"} <= tables
    engine.dispose()


def test_upgrading_a_database_in_use_keeps_every_row(empty_database_url):
    """From the previous release's schema (0009) with a reviewed candidate on a face track: the
    upgrade rebuilds face_tracks on SQLite, and nothing that refers to it may go with it."""
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        _upgrade_to(conn, "0009")
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


def test_processes_refuse_an_old_schema_until_evidence_db_upgrade(empty_database_url, tmp_path):
    """PostgreSQL by default, SQLite when told (EVIDENCE_AUTO_UPGRADE=0): a process on the previous
    release's schema does not migrate it as it starts (several would at once); it refuses, saying
    what to run, and `evidence db upgrade` does it once."""
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        _upgrade_to(conn, "0009")
    sqlite = empty_database_url.startswith("sqlite")
    env = {"EVIDENCE_DATA_DIR": str(tmp_path / "data"), "EVIDENCE_DATABASE_URL": empty_database_url,
           "EVIDENCE_REDIS_URL": "", "EVIDENCE_AUTO_UPGRADE": "0" if sqlite else ""}
    settings = Settings(data_dir=tmp_path / "data", database_url=empty_database_url,
                        auto_upgrade=False if sqlite else None)
    with pytest.raises(SchemaNotCurrent, match=f"revision 0009, this software needs {HEAD_REVISION}.*evidence db upgrade"):
        _ = Runtime(settings).engine

    cli = CliRunner()
    res = cli.invoke(main, ["serve", "--port", "1"], env=env)
    assert res.exit_code == 2 and "run `evidence db upgrade` once" in res.output, res.output
    res = cli.invoke(main, ["db", "status"], env=env)
    assert res.exit_code == 1 and f"database schema: 0009; this software: {HEAD_REVISION}" in res.output
    res = cli.invoke(main, ["db", "upgrade"], env=env)
    assert res.exit_code == 0 and f"0009 -> {HEAD_REVISION}" in res.output, res.output
    assert cli.invoke(main, ["db", "status"], env=env).exit_code == 0
    assert cli.invoke(main, ["db", "upgrade"], env=env).output.strip() == f"database schema: already at {HEAD_REVISION}"
    _ = Runtime(settings).engine  # current: starts

    with engine.begin() as conn:  # software older than its database (a rolled-back release)
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaNotCurrent, match=f"revision 0099, newer than this software's {HEAD_REVISION}"):
        _ = Runtime(settings).engine
    engine.dispose()


def test_the_upgrade_registers_the_streams_an_agent_already_reports(empty_database_url):
    """Issue 29 (schema 0023): an agent's reads and heartbeats are kept only for the streams registered
    with its key; the upgrade registers those it already reported, so working cameras stay heard."""
    engine = make_engine(empty_database_url)
    with engine.begin() as conn:
        _upgrade_to(conn, "0022")
        conn.execute(text("INSERT INTO api_keys (name, role, key_sha256, prefix, created_at, created_by) VALUES "
                          "('M4-J12', 'camera', 'a', 'ep_a', CURRENT_TIMESTAMP, 'x'), "
                          "('CAM-7', 'camera', 'b', 'ep_b', CURRENT_TIMESTAMP, 'x')"))
        conn.execute(text("INSERT INTO anpr_cameras (camera_id, first_seen_at) VALUES ('M4-J12/1235', CURRENT_TIMESTAMP), "
                          "('M4-J12/1234', CURRENT_TIMESTAMP), ('CAM-7', CURRENT_TIMESTAMP), "
                          "('M4-J120/9', CURRENT_TIMESTAMP)"))
    migrate(engine)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, streams FROM api_keys ORDER BY name")).all())
    streams = {k: (json.loads(v) if isinstance(v, str) else v) for k, v in rows.items()}
    assert streams == {"CAM-7": None, "M4-J12": ["1234", "1235"]}
    engine.dispose()
