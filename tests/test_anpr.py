"""ANPR camera reads over HTTP: stored before the answer, duplicates ignored, a batch with a bad read
reports it and stores the rest, and a read of a hotlisted vehicle — even misread O/0, I/1 — lands on
the linked incident's live feed."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from evidence.audit import Actor
from evidence.db.tables import AnprRead, utcnow
from evidence.keys import create_key
from evidence.settings import Settings

ADMIN = Actor("test-admin", "admin")
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 100).decode()


@pytest.fixture
def anpr(env):
    app = create_app(Settings())
    rt = app.state.runtime
    client = TestClient(app)
    cam = {"Authorization": f"Bearer {create_key(rt, 'CAM-A40-J3', 'camera', ADMIN)[1]}"}
    cr = {"Authorization": f"Bearer {create_key(rt, 'desk 3', 'control_room', ADMIN)[1]}"}
    incident = client.post("/incidents", json={"reference": "INC-ANPR"}, headers=cr).json()["id"]
    return client, rt, cam, cr, incident


def _read(vrm="AB12CDE", **kw):
    return {"camera_id": "CAM-A40-J3", "timestamp": utcnow().isoformat(), "vrm": vrm, "confidence": 0.93,
            "location": {"lat": 51.52, "lon": -0.31, "name": "A40 J3"}, "direction": "W", **kw}


def _feed(client, incident, headers):
    with client.stream("GET", f"/incidents/{incident}/events", headers=headers, params={"max_s": 0.4}) as res:
        text = "".join(res.iter_text())
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_a_read_of_a_hotlisted_vehicle_reaches_the_incident_feed(anpr):
    client, rt, cam, cr, incident = anpr
    entry = client.post("/hotlist", headers=cr, json={"vrm": "ab12 cde", "reason": "fireworks suspect's car",
                                                      "category": "wanted", "incident_id": incident})
    assert entry.status_code == 201 and entry.json()["vrm"] == "AB12CDE"
    res = client.post("/anpr/reads", headers=cam, json=_read("A812C0E", plate_image=JPEG))  # 8 for B, 0 for D
    assert res.status_code == 201, res.json()
    # The camera learns that the read hit, never why: the hotlist's reasons go to the incident only.
    assert res.json() == {"read_id": res.json()["read_id"], "duplicate": False, "hit": True}
    events = [e for e in _feed(client, incident, cr) if e["kind"] == "anpr.hit"]
    assert len(events) == 1 and events[0]["read_id"] == res.json()["read_id"]
    hit = events[0]
    assert hit["hotlist_vrm"] == "AB12CDE" and hit["vrm_read"] == "A812C0E" and hit["exact"] is False
    assert hit["reason"] == "fireworks suspect's car" and "fireworks" not in res.text
    assert events[0]["camera_id"] == "CAM-A40-J3" and "check the read against the image" in events[0]["verify"]
    assert client.get(events[0]["plate_image_url"], headers=cr).content[:2] == b"\xff\xd8"
    # Another vehicle: stored, no hit.
    other = client.post("/anpr/reads", headers=cam, json=_read("XY51ABC"))
    assert other.status_code == 201 and other.json()["hit"] is False


def test_a_read_posted_as_multipart_with_image_files(anpr):
    client, rt, cam, cr, incident = anpr
    client.post("/hotlist", headers=cr, json={"vrm": "LV70XKE", "reason": "stolen", "category": "stolen",
                                              "incident_id": incident})
    files = {"plate_image": ("plate.jpg", base64.b64decode(JPEG), "image/jpeg"),
             "overview_image": ("overview.jpg", base64.b64decode(JPEG), "image/jpeg")}
    res = client.post("/anpr/reads", headers=cam, data={"read": json.dumps(_read("LV70XKE"))}, files=files)
    assert res.status_code == 201 and res.json()["hit"] is True, res.json()
    hit = [e for e in _feed(client, incident, cr) if e["kind"] == "anpr.hit"][0]
    assert client.get(hit["overview_image_url"], headers=cr).content[:2] == b"\xff\xd8"
    bad = client.post("/anpr/reads", headers=cam, data={"read": "{not json"}, files=files)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_read"
    text = client.post("/anpr/reads", headers=cam, data={"read": json.dumps(_read("LV70XKF"))},
                       files={"plate_image": ("p.jpg", b"plain text", "image/jpeg")})
    assert text.status_code == 422 and "not a JPEG or PNG" in text.json()["message"]


def test_duplicates_are_ignored_and_a_batch_reports_its_bad_reads(anpr):
    client, rt, cam, _, _ = anpr
    read = _read("XY51ABC")
    assert client.post("/anpr/reads", headers=cam, json=read).status_code == 201
    again = client.post("/anpr/reads", headers=cam, json=read)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    future = (utcnow() + timedelta(days=1)).isoformat()
    batch = {"reads": [_read("AA11AAA"), _read("BB22BBB", timestamp=future), {"camera_id": "CAM-A40-J3"},
                       _read("CC33CCC", camera_id="CAM-ELSEWHERE"), _read("DD44DDD", plate_image="@@not base64"),
                       _read("EE55EEE", direction="UPWARDS"), read]}
    res = client.post("/anpr/reads", headers=cam, json=batch)
    assert res.status_code == 200
    body = res.json()
    assert body["stored"] == 1 and body["duplicates"] == 1
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "invalid_read"), (2, "invalid_read"), (3, "unknown_camera"), (4, "invalid_read"), (5, "invalid_read")]
    assert "impossible timestamp" in body["errors"][0]["message"]
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AnprRead)) == 2


@pytest.mark.parametrize("body,code", [
    ({"camera_id": "CAM-A40-J3", "vrm": "AB12CDE"}, "invalid_read"),
    ("not json", "invalid_read"),
])
def test_malformed_reads_are_refused(anpr, body, code):
    client, rt, cam, _, _ = anpr
    res = client.post("/anpr/reads", headers=cam, content=body if isinstance(body, str) else json.dumps(body))
    assert res.status_code == 422 and res.json()["code"] == code
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AnprRead)) == 0


def test_only_cameras_post_reads_and_cameras_do_nothing_else(anpr):
    client, _, cam, cr, incident = anpr
    assert client.post("/anpr/reads", headers=cr, json=_read()).status_code == 403
    assert client.get(f"/incidents/{incident}", headers=cam).status_code == 403
    assert client.get("/hotlist", headers=cam).status_code == 403


def test_retention_and_the_approval_rule_for_old_reads(anpr, cli):
    client, rt, cam, cr, _ = anpr
    res = client.post("/anpr/reads", headers=cam, json=_read("XY51ABC", plate_image=JPEG))
    read_id = res.json()["read_id"]
    assert client.get(f"/anpr/reads/{read_id}/plate", headers=cr).status_code == 200
    from sqlalchemy import update

    from evidence.db.tables import AnprRead

    with rt.sessions.begin() as s:  # the read is now 100 days old
        s.execute(update(AnprRead).values(read_at=utcnow() - timedelta(days=100)))
    old = client.get(f"/anpr/reads/{read_id}/plate", headers=cr, params={"reason": "op FIREWORKS"})
    assert old.status_code == 403 and old.json()["code"] == "approval_required"  # a second person's approval:
    # tests/test_governance.py
    assert "deleted 0 camera read(s)" in cli("anpr", "purge").stdout
    with rt.sessions.begin() as s:  # past the 12 months
        s.execute(update(AnprRead).values(read_at=utcnow() - timedelta(days=400)))
    assert "deleted 1 camera read(s) older than 365 days" in cli("anpr", "purge").stdout
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AnprRead)) == 0


def test_plate_search_wildcards_confusables_and_the_reason_rule(anpr, cli):
    from evidence.db.tables import AuditEntry

    client, rt, cam, cr, _ = anpr
    inv = {"Authorization": f"Bearer {create_key(rt, 'DC 4411 Jones', 'investigator', ADMIN)[1]}"}
    for vrm in ("AB12CDE", "AB17CDE", "XY12CDE", "A812C0E", "AB12CDF"):  # A812C0E: AB12CDE misread
        assert client.post("/anpr/reads", headers=cam, json=_read(vrm)).status_code == 201

    def found(q, headers=inv):
        res = client.get("/search/plates", params={"q": q, "reason": "op NIGHTJAR"}, headers=headers)
        assert res.status_code == 200, res.json()
        return sorted(r["vrm_read"] for r in res.json()["results"])

    assert found("AB12CDE") == ["A812C0E", "AB12CDE"]                    # confusable-aware
    assert found("AB1?CDE") == ["A812C0E", "AB12CDE", "AB17CDE"]
    assert found("*CDE") == ["A812C0E", "AB12CDE", "AB17CDE", "XY12CDE"]
    assert found("ab12 cd?", cr) == ["A812C0E", "AB12CDE", "AB12CDF"]
    assert found("?B12CDE") == ["A812C0E", "AB12CDE"]  # through the reversed key
    near = client.get("/search/plates", params={"q": "*CDE", "reason": "op NIGHTJAR", "box": "51.5,-0.4,51.6,-0.2"},
                      headers=inv).json()
    far = client.get("/search/plates", params={"q": "*CDE", "reason": "op NIGHTJAR", "box": "52,-1,53,0"},
                     headers=inv).json()
    assert near["count"] == 4 and far["count"] == 0  # the camera is at 51.52, -0.31
    no_reason = client.get("/search/plates", params={"q": "AB12CDE"}, headers=inv)
    assert no_reason.status_code == 422
    blank = client.get("/search/plates", params={"q": "AB12CDE", "reason": "  "}, headers=inv)
    assert blank.status_code == 422 and "reason" in blank.json()["message"]
    with rt.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search.plates")
                          .order_by(AuditEntry.id)).first()
    assert entry.actor == "DC 4411 Jones" and entry.reason == "op NIGHTJAR"
    assert entry.detail["query"] == "AB12CDE" and entry.detail["results"] == 2
    res = cli("search", "plate", "AB1?CDE", "--reason", "op NIGHTJAR", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["count"] == 3
    assert cli("search", "plate", "AB12CDE").exit_code == 2  # --reason is required


@pytest.mark.parametrize("edge", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_at_the_calendars_edge_is_refused_by_name_and_a_batch_keeps_its_good_reads(anpr, edge):
    """Issue 29 (4): an offset that moves the instant past year 1 or 9999 was a 500 (OverflowError)
    and lost the batch: now the field is named, and the good reads beside it are stored."""
    client, rt, cam, cr, _ = anpr
    one = client.post("/anpr/reads", headers=cam, json=_read("FF66FFF", timestamp=edge))
    assert one.status_code == 422 and "timestamp" in one.json()["message"] and "UTC years 1 to 9999" in one.text
    batch = client.post("/anpr/reads", headers=cam, json={"reads": [_read("GG77GGG"), _read("HH88HHH", timestamp=edge)]})
    assert batch.status_code == 200 and batch.json()["stored"] == 1
    assert [(e["index"], e["code"]) for e in batch.json()["errors"]] == [(1, "invalid_read")]
    multipart = client.post("/anpr/reads", headers=cam, files={"read": (None, json.dumps(_read("JJ99JJJ", timestamp=edge)))})
    assert multipart.status_code == 422 and "timestamp" in multipart.json()["message"]
    hotlist = client.post("/hotlist", headers=cr, json={"vrm": "KK11KKK", "reason": "stolen", "expires_at": edge})
    assert hotlist.status_code == 422 and "expires_at" in hotlist.text
    for q in ({"since": edge}, {"until": edge}):
        found = client.get("/search/plates", headers=cr, params={"q": "GG77GGG", **q})
        assert found.status_code == 422 and next(iter(q)) in found.text
    with rt.sessions() as s:
        assert set(s.scalars(select(AnprRead.vrm))) == {"GG77GGG"}


def test_a_small_body_of_junk_gets_a_small_answer(anpr):
    """Issue 29 (2): ``{"reads": [0, 0, …]}`` of about 1 MiB made a 52 MB list of errors and +305 MB
    of memory: the batch is counted before a read is checked (413), and a batch of bad reads lists
    the first few; the answer stays under 4 KiB and the memory it takes under 20 MB."""
    import tracemalloc

    client, _, cam, _, _ = anpr
    junk = json.dumps({"reads": [0] * 350_000}).encode()
    assert 1 << 20 <= len(junk) < 2 << 20
    tracemalloc.start()
    try:
        res = client.post("/anpr/reads", headers={**cam, "Content-Type": "application/json"}, content=junk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.status_code == 413 and "at most 1000 reads" in res.json()["message"]
    assert len(res.content) <= 4096 and peak <= 20 << 20, (len(res.content), peak)
    bad = client.post("/anpr/reads", headers=cam, json={"reads": [{"vrm": "x" * 5000}] * 1000})
    assert bad.status_code == 422 and len(bad.content) <= 4096
    assert len(bad.json()["errors"]) == 20 and bad.json()["errors_not_listed"] == 980
    assert "xxxx" not in bad.text  # what was sent is not echoed
