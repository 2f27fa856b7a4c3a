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


def test_incidents_are_searched_given_closed_and_reopened_over_http(env):
    """Issue 28: GET /incidents finds by words and filters by status and who has it; close ends
    the incident's upload links (a witness's request is refused), a second close is 409 naming who
    closed it; assigning to someone who is not staff is refused; each change is audited."""
    from evidence.keys import create_key
    from evidence.users import add_user

    rt = Runtime(Settings())
    admin = Actor("test", "admin")
    add_user(rt, "DC 1 Rao", "investigator", admin)
    client = TestClient(create_app())
    client.headers["Authorization"] = f"Bearer {create_key(rt, 'PC 2 Cole', 'control_room', admin)[1]}"
    a = client.post("/incidents", json={"reference": "inc-2026-0901", "title": "Bins set alight, Park Row"}).json()
    b = client.post("/incidents", json={"reference": "INC-2026-0902", "title": "Car window smashed"}).json()
    link = client.post(f"/incidents/{a['id']}/upload-links", json={}).json()
    assert a["status"] == "open" and a["assigned_to"] is None

    assert [i["reference"] for i in client.get("/incidents", params={"q": "park row"}).json()] == ["INC-2026-0901"]
    given = client.post(f"/incidents/{a['id']}/assign", json={"to": "DC 1 Rao", "was": ""})
    assert given.status_code == 200 and given.json()["assigned_to"] == "DC 1 Rao"
    again = client.post(f"/incidents/{a['id']}/assign", json={"to": None, "was": ""})  # it was not nobody's
    assert again.status_code == 409 and "DC 1 Rao" in again.json()["message"]
    assert client.post(f"/incidents/{b['id']}/assign", json={"to": "Nobody Known"}).status_code == 422
    assert [i["id"] for i in client.get("/incidents", params={"assigned_to": "DC 1 Rao"}).json()] == [a["id"]]
    assert [i["id"] for i in client.get("/incidents", params={"assigned_to": ""}).json()] == [b["id"]]

    closed = client.post(f"/incidents/{a['id']}/close", json={"reason": "Fire service: accidental"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["closed"]["by"] == "PC 2 Cole" and closed.json()["closed"]["why"] == "Fire service: accidental"
    twice = client.post(f"/incidents/{a['id']}/close", json={"reason": "again"})
    assert twice.status_code == 409 and "already closed by PC 2 Cole" in twice.json()["message"]
    assert client.post(f"/incidents/{a['id']}/close", json={"reason": ""}).status_code == 422
    witness = client.get(link["page_url"])
    assert witness.status_code == 410 and "This link no longer works" in witness.text
    refused = client.post(f"/incidents/{a['id']}/upload-links", json={})
    assert refused.status_code == 409 and "is closed" in refused.json()["message"]
    assert [i["id"] for i in client.get("/incidents", params={"status": "open"}).json()] == [b["id"]]
    assert client.post(f"/incidents/{a['id']}/reopen", json={"reason": "New witness"}).json()["status"] == "open"
    with rt.sessions() as s:
        from evidence.db.tables import AuditEntry

        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"incident:{a['id']}")))
    assert {"incident.assign", "incident.close", "incident.reopen"} <= set(actions)
