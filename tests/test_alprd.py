"""OpenALPR agents post their own JSON (alprd): a vehicle's group and a frame's results are stored as
reads, the camera's alternative reads are checked against the hotlist, heartbeats give each camera's
health, a silent camera raises an alert on the desk; plates placed abroad are kept as read; purging
a read deletes its images."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.main import create_app
from evidence.audit import Actor
from evidence.cameras import check_cameras
from evidence.db.tables import AnprRead, utcnow
from evidence.keys import create_key
from evidence.settings import Settings
from tests.test_anpr import _feed

ADMIN = Actor("test-admin", "admin")


def jpeg(tag: bytes) -> str:
    return base64.b64encode(b"\xff\xd8\xff\xe0" + tag + b"\0" * 64).decode()


@pytest.fixture
def alpr(env, database_url, monkeypatch):
    monkeypatch.setenv("EVIDENCE_DATABASE_URL", database_url)  # on SQLite and on PostgreSQL
    app = create_app(Settings())
    rt = app.state.runtime
    client = TestClient(app)
    agent = {"Authorization": f"Bearer {create_key(rt, 'M4-J12', 'camera', ADMIN, streams=['1234', '1235'])[1]}"}
    cr = {"Authorization": f"Bearer {create_key(rt, 'desk 3', 'control_room', ADMIN)[1]}"}
    incident = client.post("/incidents", json={"reference": "INC-ALPR"}, headers=cr).json()["id"]
    return client, rt, agent, cr, incident


def group(plate="AB12CDE", candidates=(), epoch_ms=None, **kw):
    """An alpr_group as alprd sends it (the fields the project reads, and some it ignores)."""
    epoch_ms = epoch_ms or int(utcnow().timestamp() * 1000)
    return {"version": 2, "data_type": "alpr_group", "epoch_start": epoch_ms, "epoch_end": epoch_ms + 800,
            "frame_start": 100, "frame_end": 112, "company_id": "c0ffee", "agent_uid": "X1", "agent_type": "alprd",
            "agent_version": "2.8.101", "camera_id": 1234, "country": "gb", "gps_latitude": 52.43,
            "gps_longitude": -1.91, "best_plate_number": plate, "best_confidence": 91.3, "best_region": "gb",
            "best_region_confidence": 80, "matches_template": True, "travel_direction": 268.5, "is_parked": False,
            "is_preview": False, "best_uuid": "X1-1234-1", "uuids": ["X1-1234-1"],
            "best_plate": {"plate": plate, "confidence": 91.3, "plate_crop_jpeg": jpeg(b"plate" + plate.encode()),
                           "coordinates": [{"x": 1, "y": 2}, {"x": 90, "y": 2}, {"x": 90, "y": 30}, {"x": 1, "y": 30}]},
            "vehicle_crop_jpeg": jpeg(b"vehicle" + plate.encode()),
            "candidates": [{"plate": plate, "confidence": 91.3, "matches_template": 1},
                           *({"plate": p, "confidence": c, "matches_template": 0} for p, c in candidates)], **kw}


def test_an_alpr_group_is_stored_as_a_read_with_its_images_direction_and_alternatives(alpr):
    client, rt, agent, cr, _ = alpr
    body = group("LV70XKE", candidates=[("LV70XKF", 71.0), ("LV7OXKE", 64.5)])
    res = client.post("/anpr/openalpr", headers=agent, json=body)
    assert res.status_code == 200, res.json()
    assert res.json() == {"data_type": "alpr_group", "stored": 1, "duplicates": 0, "hits": 0,
                          "errors": [], "errors_not_listed": 0, "cameras": []}
    assert client.post("/anpr/openalpr", headers=agent, json=body).json()["duplicates"] == 1  # alprd retries
    big = group("LV70XKF")  # real crops: a vehicle crop of ~100 KB is well over the 64 KiB JSON default
    big["vehicle_crop_jpeg"] = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 400).decode()
    assert client.post("/anpr/openalpr", headers=agent, json=big).json()["stored"] == 1
    with rt.sessions() as s:
        read = s.scalars(select(AnprRead).where(AnprRead.vrm == "LV70XKE")).one()
    assert (read.camera_id, read.vrm, read.format, read.valid, read.direction) == (
        "M4-J12/1234", "LV70XKE", "current", True, None)
    assert read.confidence == pytest.approx(0.913) and read.location["lat"] == 52.43
    assert read.location["travel_direction_deg"] == 268.5  # in the camera's image: not made a compass point
    assert abs((read.read_at - utcnow()).total_seconds()) < 60
    assert read.alternatives == [["LV70XKF", 0.71], ["LV7OXKE", 0.645]]
    assert client.get(f"/anpr/reads/{read.id}/plate", headers=cr).content[:2] == b"\xff\xd8"
    assert client.get(f"/anpr/reads/{read.id}/overview", headers=cr).content[:2] == b"\xff\xd8"
    results = {"version": 2, "data_type": "alpr_results", "epoch_time": int(utcnow().timestamp() * 1000),
               "camera_id": 1234, "img_width": 1280, "img_height": 720, "results": [
                   {"plate": "GH45JK", "confidence": 88.0, "region": "nl", "candidates": []},
                   {"plate": "BD51SMR", "confidence": 93.0, "region": "gb", "candidates": []}]}
    assert client.post("/anpr/openalpr", headers=agent, json=results).json()["stored"] == 2
    with rt.sessions() as s:
        dutch = s.scalars(select(AnprRead).where(AnprRead.vrm_read == "GH45JK")).one()
    assert (dutch.vrm, dutch.format, dutch.valid) == ("GH45JK", "foreign", False)


def test_a_hotlisted_registration_among_the_cameras_candidates_raises_a_hit(alpr):
    client, _, agent, cr, incident = alpr
    client.post("/hotlist", headers=cr, json={"vrm": "KX19NFD", "reason": "fireworks suspect's car",
                                              "category": "wanted", "incident_id": incident})
    # The camera's best read is wrong (H for N); its second candidate is the hotlisted car.
    res = client.post("/anpr/openalpr", headers=agent, json=group("KX19HFD", candidates=[("KX19NFD", 77.2)]))
    assert res.status_code == 200 and res.json()["hits"] == 1
    hits = [e for e in _feed(client, incident, cr) if e["kind"] == "anpr.hit"]
    assert len(hits) == 1
    assert hits[0]["vrm_read"] == "KX19HFD" and hits[0]["hotlist_vrm"] == "KX19NFD"
    assert hits[0]["on_alternative_read"] is True and hits[0]["exact"] is False
    assert hits[0]["matched_read"] == {"vrm": "KX19NFD", "confidence": 0.772}
    assert "check the read against the image" in hits[0]["verify"]


def test_heartbeats_give_camera_health_and_a_silent_camera_raises_an_alert(alpr):
    client, rt, agent, cr, _ = alpr
    beat = {"version": 2, "data_type": "heartbeat", "company_id": "c0ffee", "agent_uid": "X1",
            "agent_hostname": "m4-j12-box", "agent_version": "2.8.101", "agent_type": "alprd",
            "timestamp": int(utcnow().timestamp() * 1000), "cpu_cores": 4, "cpu_usage_percent": 38.5,
            "video_streams": [
                {"camera_id": 1234, "camera_name": "M4 J12 eastbound", "fps": 14.8, "is_streaming": True,
                 "url": "rtsp://10.0.0.5/stream", "last_plate_read": 1764590000000},
                {"camera_id": 1235, "camera_name": "M4 J12 westbound", "fps": 0, "is_streaming": False}]}
    res = client.post("/anpr/openalpr", headers=agent, json=beat)
    assert res.status_code == 200 and res.json()["cameras"] == ["M4-J12/1234", "M4-J12/1235"]
    cams = {c["camera_id"]: c for c in client.get("/anpr/cameras", headers=cr).json()}
    assert cams["M4-J12/1234"]["streaming"] is True and cams["M4-J12/1234"]["status"]["fps"] == 14.8
    assert "url" not in cams["M4-J12/1234"]["status"]  # the stream's address (and credentials) are not kept
    assert cams["M4-J12/1235"]["streaming"] is False and cams["M4-J12/1235"]["silent_since"] is None
    assert client.get("/anpr/cameras", headers=agent).status_code == 403
    # The westbound camera says it is not streaming: silent now; the eastbound one in ten minutes.
    assert check_cameras(rt) == ["M4-J12/1235"]
    assert check_cameras(rt) == []  # raised once
    assert check_cameras(rt, utcnow() + timedelta(seconds=rt.settings.anpr_camera_silent_s + 5)) == ["M4-J12/1234"]
    alerts = [a for a in client.get("/alerts", headers=cr).json() if a["kind"] == "anpr.camera_silent"]
    assert len(alerts) == 2 and any("M4-J12/1235" in a["summary"] for a in alerts)
    # Another heartbeat saying the westbound stream is still down: still silent, no second alert.
    assert client.post("/anpr/openalpr", headers=agent, json=beat).status_code == 200
    assert check_cameras(rt) == []
    cams = {c["camera_id"]: c for c in client.get("/anpr/cameras", headers=cr).json()}
    assert cams["M4-J12/1235"]["silent_since"] is not None
    # The eastbound camera speaks again: heard, the silence is over (said so, its alert closed).
    assert client.post("/anpr/openalpr", headers=agent, json=group("BD51SMR")).json()["stored"] == 1
    cams = {c["camera_id"]: c for c in client.get("/anpr/cameras", headers=cr).json()}
    assert cams["M4-J12/1234"]["silent_since"] is None and cams["M4-J12/1234"]["last_read_at"]
    open_ = {a["summary"] for a in client.get("/alerts", headers=cr).json()
             if a["kind"] == "anpr.camera_silent" and a["acknowledged_at"] is None}
    assert len(open_) == 1 and "M4-J12/1235" in open_.pop()
    with rt.sessions() as s:
        from evidence.db.tables import IncidentEvent

        back = s.scalars(select(IncidentEvent).where(IncidentEvent.kind == "anpr.camera_back")).all()
    assert [e.data["camera_id"] for e in back] == ["M4-J12/1234"]


def test_a_camera_keys_name_cannot_claim_another_cameras_streams(alpr):
    _, rt, _, _, _ = alpr
    from evidence.errors import Conflict

    with pytest.raises(Conflict, match="no '/'"):
        create_key(rt, "M4-J12/1234", "camera", ADMIN)


@pytest.mark.parametrize("body,message", [
    ({**group(), "camera_id": {"id": 1}}, "camera_id"),
    ({"data_type": "vehicle"}, "data_type 'vehicle' is not handled"),
    ({"version": 2}, "data_type None is not handled"),
    ({"data_type": "alpr_group", "epoch_start": 1764590000000, "best_confidence": 90}, "best_plate_number"),
    ({**group(), "epoch_start": "yesterday"}, "epoch_start: epoch milliseconds expected"),
    ({**group(), "best_confidence": 250}, "best_confidence: a confidence from 0 to 100"),
    ({"data_type": "alpr_results", "epoch_time": 1764590000000, "results": "AB12CDE"}, "results must be a list"),
])
def test_malformed_alprd_json_is_refused_with_the_reason(alpr, body, message):
    client, rt, agent, _, _ = alpr
    res = client.post("/anpr/openalpr", headers=agent, json=body)
    assert res.status_code == 422 and message in res.json()["message"], res.json()
    with rt.sessions() as s:
        assert s.scalars(select(AnprRead)).first() is None


def test_a_read_placed_abroad_is_kept_as_read_and_a_uk_one_still_repaired(alpr):
    client, rt, agent, _, _ = alpr
    for plate, region in (("AB123CD", "fr"), ("191D12345", "ie"), ("MAB1234", "de"), ("AB12C0E", "gb")):
        assert client.post("/anpr/openalpr", headers=agent, json=group(plate, best_region=region)).status_code == 200
    with rt.sessions() as s:
        got = {r.vrm_read: (r.vrm, r.format, r.valid) for r in s.scalars(select(AnprRead))}
    assert got == {"AB123CD": ("AB123CD", "foreign", False), "191D12345": ("191D12345", "foreign", False),
                   "MAB1234": ("MAB1234", "foreign", False), "AB12C0E": ("AB12COE", "current", True)}


def test_purging_a_read_deletes_its_images_and_keeps_those_still_referred_to(alpr, cli):
    client, rt, agent, cr, _ = alpr
    old, kept = group("XY51ABC"), group("XY51ABD")
    kept["vehicle_crop_jpeg"] = old["vehicle_crop_jpeg"]  # the same overview bytes: one stored file
    for body in (old, kept):
        assert client.post("/anpr/openalpr", headers=agent, json=body).json()["stored"] == 1
    with rt.sessions() as s:
        rows = {r.vrm: (r.plate_image, r.overview_image) for r in s.scalars(select(AnprRead))}
    assert rows["XY51ABC"][1] == rows["XY51ABD"][1]
    with rt.sessions.begin() as s:
        s.execute(update(AnprRead).where(AnprRead.vrm == "XY51ABC").values(read_at=utcnow() - timedelta(days=400)))
    assert "deleted 1 camera read(s)" in cli("anpr", "purge").stdout
    plate, overview = rows["XY51ABC"]
    assert not rt.store.absolute(plate).exists()  # the purged read's own image is gone
    assert rt.store.absolute(overview).exists()  # shared with a read that is kept
    assert all(rt.store.absolute(p).exists() for p in rows["XY51ABD"])
    with rt.sessions() as s:
        from evidence.db.tables import AuditEntry

        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "anpr.retention")).one()
    assert entry.detail["deleted"] == 1 and entry.detail["images_deleted"] == 1
    # The same plate image arriving again with a new read is stored again, not left pointing at nothing.
    again = group("XY51ABC", epoch_ms=int(utcnow().timestamp() * 1000) + 5)
    assert client.post("/anpr/openalpr", headers=agent, json=again).json()["stored"] == 1
    assert rt.store.absolute(plate).exists()


def test_a_compromised_agent_cannot_invent_cameras_or_store_a_large_name(alpr):
    """Issue 29 (2): a heartbeat with a 1 MiB host name and 64 invented camera ids grew the database
    by 115 MiB, made GET /anpr/cameras answer 64 MiB and, ten minutes later, 64 "camera silent"
    alerts. Only the streams registered for the key are kept, each text figure at most 100
    characters; reads for an unregistered stream are refused like another camera's."""
    client, rt, agent, cr, _ = alpr
    beat = {"data_type": "heartbeat", "agent_hostname": "h" * (1 << 20), "agent_version": "2.8.101",
            "video_streams": [{"camera_id": 1234, "camera_name": "n" * 5000, "fps": 12.5, "is_streaming": True}]
            + [{"camera_id": f"fake-{i}", "is_streaming": True} for i in range(63)]}
    res = client.post("/anpr/openalpr", headers=agent, json=beat)
    assert res.status_code == 200 and res.json()["cameras"] == ["M4-J12/1234"], res.text[:300]
    assert "63 stream(s) not registered" in res.json()["errors"][0]["message"] and len(res.content) < 4096
    cameras = client.get("/anpr/cameras", headers=cr)
    assert [c["camera_id"] for c in cameras.json()] == ["M4-J12/1234"] and len(cameras.content) < 4096
    status = cameras.json()[0]["status"]
    assert len(status["agent_hostname"]) == 100 and len(status["camera_name"]) == 100 and status["fps"] == 12.5
    assert check_cameras(rt, utcnow() + timedelta(seconds=rt.settings.anpr_camera_silent_s + 5)) == ["M4-J12/1234"]
    read = {**group(), "camera_id": "fake-1"}
    refused = client.post("/anpr/openalpr", headers=agent, json=read)
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "unknown_camera"


def test_an_agents_long_list_or_long_id_is_refused_small(alpr):
    """The review of issue 29: alpr_results had no cap (an 8 MiB body held ~200,000 reads, stored
    in one transaction) and a bad value came back whole in the message."""
    client, _, agent, _, _ = alpr
    many = {"data_type": "alpr_results", "epoch_time": 1764590000000, "camera_id": 1234,
            "results": [{"plate": "AB12CDE", "confidence": 90}] * 101}
    res = client.post("/anpr/openalpr", headers=agent, json=many)
    assert res.status_code == 422 and "at most 100 results" in res.json()["message"]
    long_id = client.post("/anpr/openalpr", headers=agent, json={**group(), "camera_id": "c" * (1 << 20)})
    assert long_id.status_code == 422 and len(long_id.content) < 1024 and "..." in long_id.json()["message"]
