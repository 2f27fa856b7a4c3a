"""Shared fixtures: real clips rendered from the LFW photos in samples/faces, real ffmpeg, real dlib
models, a fresh data directory per test, and PostgreSQL on loopback when it is reachable."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from evidence.audit import Actor
from evidence.db import make_engine, migrate
from evidence.keys import create_key
from evidence.runtime import FaceModels, Runtime
from evidence.settings import Settings
from samples.make_samples import Appearance, build_watchlist, render_clip

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "samples" / "faces"  # the LFW photos the tests and the demo use
POSTGRES_ADMIN_URL = os.environ.get("EVIDENCE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# The longest files first: `make test` runs two processes that take a file each at a time (in this
# order: --no-loadscope-reorder), and a long file taken last would run alone at the end. Within a file
# the order stays as written.
LONGEST_FIRST = ("test_browser.py", "test_workers.py", "test_face_detection.py", "test_notify.py",
                 "test_review_and_audit.py", "test_plates.py", "test_openapi_fuzz.py", "test_cli_process.py",
                 "test_pages.py", "test_governance.py", "test_ops.py", "test_access_ends.py", "test_search.py",
                 "test_segments.py", "test_browser_governance.py")  # measured: --durations=0, summed by file


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short clips with ground truth: two watchlist people and a stranger (720p), a vertical phone
    clip (rotation tag), and a clip with nobody in it."""
    d = tmp_path_factory.mktemp("clips")
    street = [
        Appearance("Gordon_Brown", "Gordon_Brown_0006", 0.3, 4.0, (0.2, 0.5), (0.35, 0.5), (120, 110), True),
        Appearance("Vaclav_Havel", "Vaclav_Havel_0002", 0.5, 5.5, (0.8, 0.5), (0.7, 0.5), (110, 130), False),
        Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 3.0, 6.0, (0.45, 0.3), (0.5, 0.45), (110, 130), True),
    ]
    phone = [Appearance("Jennifer_Garner", "Jennifer_Garner_0007", 0.5, 3.5, (0.5, 0.4), (0.5, 0.45), (170, 190), True)]
    return {
        "street": render_clip(d / "street.mp4", street, 6.0, size_wh=(1280, 720), seed=11,
                              metadata={"creation_time": "2026-11-05T21:14:03Z", "location": "+51.5072-000.1276/"}),
        "phone": render_clip(d / "phone.mp4", phone, 4.0, size_wh=(720, 1280), rotate_90=True, seed=12),
        "empty": render_clip(d / "empty.mp4", [], 3.0, size_wh=(640, 360), seed=13),
    }


@pytest.fixture(scope="session")
def watchlist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Other photos (1-3) of the watchlist people than the clips use."""
    return build_watchlist(tmp_path_factory.mktemp("wl") / "watchlist", {
        "Gordon_Brown": [1, 2, 3], "Kim_Clijsters": [1, 2, 3], "Jennifer_Garner": [1, 2, 3], "Tom_Ridge": [1, 2, 3]})


@pytest.fixture(scope="session")
def face_models() -> FaceModels:
    return FaceModels()


def _postgres_admin() -> Any:
    try:
        import psycopg

        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception:
        return None


def _postgres_database(template: str | None = None) -> Iterator[str | None]:
    """A fresh PostgreSQL database (a copy of ``template`` when given), dropped afterwards; None
    when PostgreSQL is not reachable."""
    admin = _postgres_admin()
    if admin is None:
        yield None
        return
    name = f"evidence_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    yield from _postgres_database()


# Migrating a database takes about a second; a test that needs an upgraded one gets a copy of one
# migrated once per test session (per xdist worker): a file copy on SQLite, CREATE DATABASE …
# TEMPLATE on PostgreSQL. The tests of migrating itself start from empty_database_url.
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "evidence.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    gen = _postgres_database()
    url = next(gen)
    if url is not None:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()  # a template must have no connections when it is copied
    yield url.rsplit("/", 1)[1] if url else None
    next(gen, None)


def _database(kind: str, tmp_path: Path, request: pytest.FixtureRequest, upgraded: bool) -> Iterator[str]:
    if kind == "sqlite":
        path = tmp_path / "evidence.db"
        if upgraded:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    gen = _postgres_database(request.getfixturevalue("postgres_template") if upgraded else None)
    url = next(gen)
    if url is None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
    yield url  # upgraded: as `evidence db upgrade` leaves it (processes on PostgreSQL do not migrate)
    next(gen, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on the embedded default and on PostgreSQL: a fresh database per test, its
    schema at the newest migration (a copy of the session's migrated template)."""
    yield from _database(request.param, tmp_path, request, upgraded=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database with no schema at all, on both."""
    yield from _database(request.param, tmp_path, request, upgraded=False)


# The street clip analysed with the watchlist enrolled (incident INC-R), once per test session (per
# xdist worker) on each database: a test that starts from analysed results gets a copy of the data
# directory and of the database (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL),
# not an analysis of its own (about 10 s each).
ANALYSED_INCIDENT = "INC-R"


def _analyse_street(data: Path, database_url: str, face_models: FaceModels, clip: Path, watchlist: Path) -> int:
    from evidence.watchlists import enrol, folder_enrolments
    from evidence.work import analyse_evidence, ingest_clip

    with pytest.MonkeyPatch.context() as mp:  # the defaults, whatever the test that first asks has set
        for key in [k for k in os.environ if k.startswith("EVIDENCE_")]:
            mp.delenv(key)
        settings = Settings(data_dir=data, database_url=database_url)
    rt = Runtime(settings)
    rt.faces = face_models
    try:
        enrol(rt, folder_enrolments(watchlist), Actor("test set-up", "system"))
        evidence_id = ingest_clip(rt, clip, ANALYSED_INCIDENT, Actor("test set-up", "system"))
        analyse_evidence(rt, evidence_id)
        return evidence_id
    finally:
        rt.engine.dispose()  # a template must have no connections when it is copied


@pytest.fixture(scope="session")
def analysed_sqlite(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, face_models: FaceModels,
                    clips: dict[str, Path], watchlist_dir: Path) -> tuple[Path, int]:
    data = fresh_data_dir(tmp_path_factory.mktemp("analysed") / "data", sqlite_template)
    return data, _analyse_street(data, f"sqlite:///{data / 'evidence.db'}", face_models, clips["street"], watchlist_dir)


@pytest.fixture(scope="session")
def analysed_postgres(tmp_path_factory: pytest.TempPathFactory, postgres_template: str | None,
                      face_models: FaceModels, clips: dict[str, Path],
                      watchlist_dir: Path) -> Iterator[tuple[Path, str, int] | None]:
    if postgres_template is None:
        yield None
        return
    gen = _postgres_database(postgres_template)
    url = next(gen)
    assert url is not None
    data = tmp_path_factory.mktemp("analysed-pg") / "data"
    evidence_id = _analyse_street(data, url, face_models, clips["street"], watchlist_dir)
    yield data, url.rsplit("/", 1)[1], evidence_id
    next(gen, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def analysed(request: pytest.FixtureRequest, tmp_path: Path, face_models: FaceModels) -> Iterator[tuple[Runtime, int]]:
    """A Runtime on a copy of the analysed street clip (its data directory and its database, on SQLite
    and on PostgreSQL), and the clip's evidence id."""
    data = tmp_path / "data"
    if request.param == "sqlite":
        source, evidence_id = request.getfixturevalue("analysed_sqlite")
        database_url = f"sqlite:///{data / 'evidence.db'}"
        copy: Iterator[str | None] = iter(())
    else:
        made = request.getfixturevalue("analysed_postgres")
        if made is None:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
        source, template, evidence_id = made
        copy = _postgres_database(template)
        database_url = next(copy) or ""
    shutil.copytree(source, data)
    rt = Runtime(Settings(data_dir=data, database_url=database_url))
    rt.faces = face_models
    yield rt, evidence_id
    rt.engine.dispose()
    next(copy, None)


def fresh_data_dir(data: Path, sqlite_template: Path) -> Path:
    """``data`` made a data directory whose SQLite database is migrated (a copy of the session's template)."""
    data.mkdir(parents=True)
    shutil.copyfile(sqlite_template, data / "evidence.db")
    return data


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    """EVIDENCE_* pointing at ``data`` (its SQLite database, the local store, in-process)."""
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(data))
    monkeypatch.delenv("EVIDENCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EVIDENCE_REDIS_URL", raising=False)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_template: Path) -> Path:
    """EVIDENCE_* pointing at a fresh data dir (SQLite, local store, in-process), its database
    already migrated (a copy of the session's template)."""
    data = fresh_data_dir(tmp_path / "data", sqlite_template)
    use_data_dir(monkeypatch, data)
    return data


@pytest.fixture
def analysed_env(env: Path, analysed_sqlite: tuple[Path, int]) -> int:
    """``env`` holding a copy of the analysed street clip (SQLite): its evidence id."""
    source, evidence_id = analysed_sqlite
    shutil.rmtree(env)
    shutil.copytree(source, env)
    return evidence_id


@pytest.fixture
def runtime(env: Path, face_models: FaceModels) -> Runtime:
    rt = Runtime(Settings())
    rt.faces = face_models
    return rt


def frame_at(video: Path, t_s: float):
    """The RGB frame of ``video`` shown at ``t_s`` (read back with OpenCV, as a viewer would)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_MSEC, t_s * 1000)
    ok, frame = cap.read()
    cap.release()
    assert ok, f"{video}: no frame at {t_s} s"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class Cli:
    """Runs the real ``evidence`` command in-process (same entry point as the console script),
    with a Runtime built from the environment like the CLI's own, whose models stay loaded."""

    def __init__(self, face_models: FaceModels) -> None:
        self.face_models = face_models
        self.runner = CliRunner()
        self.key: str | None = None

    def __call__(self, *args: object) -> Result:
        """As "Test Administrator" (a key made in the database at the first call)."""
        rt = Runtime(Settings())
        rt.faces = self.face_models
        if self.key is None:
            self.key = os.environ.get("EVIDENCE_KEY") or create_key(rt, "Test Administrator", "admin",
                                                                     Actor("test set-up", "system"))[1]
        return self.as_key(self.key, *args)

    def as_key(self, key: str | None, *args: object) -> Result:
        """As the holder of ``key``; with None, as nobody (no credential in the environment)."""
        rt = Runtime(Settings())
        rt.faces = self.face_models
        env = {"EVIDENCE_KEY": key, "EVIDENCE_USER": None} if key else {"EVIDENCE_KEY": None, "EVIDENCE_USER": None}
        return self.runner.invoke(main, [str(a) for a in args], obj=rt, catch_exceptions=False, env=env)


@pytest.fixture
def cli(env: Path, face_models: FaceModels) -> Cli:
    return Cli(face_models)


# The attacker tests' app (tests/test_attack_*.py): SQLite and PostgreSQL, a key per role, an incident.
@pytest.fixture
def api(database_url: str, tmp_path: Path) -> tuple[Any, Runtime, dict[str, dict[str, str]], int]:
    """An app on SQLite or PostgreSQL with a key per role and an incident. Analysis is left queued
    (Redis configured but unreachable): these tests are about what the API lets in."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from evidence.keys import ROLES
    from workers.queue import RQWorkQueue

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, RQWorkQueue(Runtime(settings)))
    rt = app.state.runtime
    client = TestClient(app)
    admin = Actor("test-admin", "admin")
    keys = {role: {"Authorization": f"Bearer {create_key(rt, f'{role} one', role, admin)[1]}"} for role in ROLES}
    incident = client.post("/incidents", json={"reference": "INC-H"}, headers=keys["control_room"]).json()["id"]
    return client, rt, keys, incident


@pytest.fixture(scope="module")
def bomb() -> bytes:
    from samples.hostile import png_bomb

    return png_bomb(20_000)
