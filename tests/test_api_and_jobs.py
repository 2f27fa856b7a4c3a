from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from evidence.audit import Actor
from evidence.db.tables import Evidence
from evidence.processing import ingest_clip
from evidence.runtime import Runtime
from evidence.settings import Settings
from workers.jobs import analyse_job


def test_health_and_openapi(env):
    client = TestClient(create_app())
    assert client.get("/health").json()["status"] == "ok"
    assert "/health" in client.get("/openapi.json").json()["paths"]


def test_analyse_job_is_idempotent(env, clips):
    rt = Runtime(Settings())
    eid = ingest_clip(rt, clips["empty"], "INC-J", Actor("test", "admin"))
    first = analyse_job(eid)
    second = analyse_job(eid)
    assert first["frames"] == second["frames"] == 6
    with rt.sessions() as s:
        assert s.scalar(select(Evidence.state).where(Evidence.id == eid)) == "done"
