"""Engine and sessions; ``migrate`` brings any database to the latest Alembic revision (``evidence
db upgrade``), ``check_schema`` refuses a database that is not at it (a process starting on
PostgreSQL never migrates: several would at once).

Transactions follow one rule on both databases: ``sessions()`` reads (on SQLite one consistent
snapshot for the session), ``sessions.begin()`` writes, and **write transactions run one at a
time**, each holding the lock from its first statement to its commit:

- SQLite: ``BEGIN IMMEDIATE`` takes the database's one write lock at once (Python's sqlite3 would
  otherwise run the reads before a first write outside any transaction, and ``SELECT … FOR
  UPDATE`` does not exist on SQLite).
- PostgreSQL: the first statement locks the journal head row (``audit_head``, ``FOR UPDATE``).

So whatever a write transaction reads cannot change before it commits (every check-then-act is
safe), rows are numbered in the order they become visible (the live feed and the face index
follow ids and miss nothing), and the audit chain has one head. The cost is write concurrency:
writes are short (a track, a batch of camera reads, an audited view), measured in
``benchmarks/soak.py``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from pipeline.errors import EvidenceError

log = logging.getLogger(__name__)

__all__ = ["HEAD_REVISION", "SchemaNotCurrent", "Sessions", "check_schema", "make_engine", "migrate", "rows_changed",
           "schema_revision", "session_factory"]


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (a compare-and-set won when it is 1)."""
    return int(cast(CursorResult[Any], result).rowcount)

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration; tests check it against Alembic's own view. Knowing it lets a process whose
# database is current skip importing Alembic (~0.2 s of every CLI start).
HEAD_REVISION = "0023"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # no implicit BEGIN: the "begin" hook below says which
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writing") else "BEGIN")

        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise EvidenceError("PostgreSQL needs the postgres extra: pip install 'evidence-pipeline[postgres]'") from exc
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    return create_engine(url, pool_pre_ping=True)


class SchemaNotCurrent(EvidenceError):
    """The database's schema is not the one this software was written for."""


def schema_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: no schema yet). Raises if it cannot be reached."""
    with engine.connect() as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(engine: Engine) -> None:
    """Raise SchemaNotCurrent, saying what to do, unless the database is at HEAD_REVISION."""
    current = schema_revision(engine)
    if current == HEAD_REVISION:
        return
    if current is None:
        problem = "has no schema yet"
    elif current > HEAD_REVISION:  # revisions are zero-padded numbers
        raise SchemaNotCurrent(f"the database's schema is at revision {current}, newer than this software's "
                               f"{HEAD_REVISION}: run the release that upgraded it")
    else:
        problem = f"is at schema revision {current}, this software needs {HEAD_REVISION}"
    raise SchemaNotCurrent(f"the database {problem}: stop the API and the workers, run `evidence db upgrade` once, "
                           "then start them")


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (nothing to do when it is already there).

    On SQLite, foreign keys are off while migrations run: a batch migration rebuilds a table by
    dropping it, and with foreign keys on that drop would cascade (rebuilding ``face_tracks`` would
    delete every candidate, reviewed or not). They are checked once the upgrade is done."""
    if schema_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # outside any transaction, where SQLite takes this pragma
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if not sqlite:  # two upgrades at once: the second waits, then finds nothing to do
                    conn.execute(text("SELECT pg_advisory_xact_lock(72710518)"))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all() if sqlite else []
                if broken:
                    raise EvidenceError(f"the upgrade left {len(broken)} broken reference(s), e.g. {broken[0]}: "
                                        "nothing was changed")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class Sessions:
    """``sessions()``: a session to read with; ``sessions.begin()``: a transaction to write in,
    committed when the block ends (SQLite: ``BEGIN IMMEDIATE``). A second write transaction opened
    on a thread that already has one would wait for itself on SQLite: it is refused at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = session_factory(engine)
        self._write = session_factory(engine.execution_options(writing=True))
        self._local = threading.local()
        self.after_commit: list[Callable[[Session], None]] = []

    def __call__(self) -> Session:
        return self._read()

    @contextmanager
    def begin(self) -> Iterator[Session]:
        if getattr(self._local, "writing", False):
            raise RuntimeError("a write transaction is already open on this thread")
        self._local.writing = True
        try:
            with self._write.begin() as s:
                # The lock is taken now, not at the block's first statement: what the block checks
                # outside the database (a file still in the store) holds until it commits.
                if self.engine.dialect.name == "sqlite":
                    s.connection()  # BEGIN IMMEDIATE
                else:
                    s.execute(text("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE"))
                yield s
        finally:
            self._local.writing = False
        for hook in self.after_commit:  # committed: e.g. start sending what the outbox now holds
            try:
                hook(s)
            except Exception:  # noqa: BLE001 - what committed stands; the outbox's sweep sends it later
                log.exception("after-commit hook %s failed", hook)
