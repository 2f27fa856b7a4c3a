from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from evidence.audit import Actor
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, WorkItem
from evidence.work import finalise_evidence, ingest_clip, prepare_evidence, run_item
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments


def test_health_and_openapi(env):
    client = TestClient(create_app())
    assert client.get("/health").json()["status"] == "ok"
    assert "/health" in client.get("/openapi.json").json()["paths"]


def test_every_step_of_the_graph_is_idempotent(database_url, tmp_path, clips, watchlist_dir, face_models):
    """What a job does twice (RQ retrying it, two workers racing on it) it does once; on SQLite
    and on PostgreSQL."""
    rt = Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url, segment_s=3))
    rt.faces = face_models
    enrol(rt, folder_enrolments(watchlist_dir), Actor("test", "admin"))
    eid = ingest_clip(rt, clips["street"], "INC-J", Actor("test", "admin"))

    def counts():
        with rt.sessions() as s:
            return tuple(s.scalar(select(func.count()).select_from(t).where(t.evidence_id == eid))
                         for t in (WorkItem, FaceTrackRow, CandidateRow))

    todo = prepare_evidence(rt, eid)
    assert prepare_evidence(rt, eid) == todo  # a plan already made is kept
    kinds = []
    for item_id in todo:
        first = run_item(rt, item_id)
        again = run_item(rt, item_id)  # done already: nothing written
        assert (again.frames, again.kind) == (first.frames, first.kind)
        kinds.append(first.kind)
    assert kinds[-1] == "transcode" and kinds.count("segment") >= 2 and again.all_done
    before = counts()
    assert finalise_evidence(rt, eid) and finalise_evidence(rt, eid)
    after = counts()
    assert after[0] == before[0] and after[1] <= before[1]  # stitching only ever joins tracks
    assert finalise_evidence(rt, eid) and counts() == after
    with rt.sessions() as s:
        ev = s.get(Evidence, eid)
        assert ev.state == "done" and ev.provenance["tracks_stitched_across_cuts"] >= 1
    rt.engine.dispose()
