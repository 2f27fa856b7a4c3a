"""One UTC rule at the boundary, on SQLite and PostgreSQL: a camera read, a hotlist expiry and a
search window given with a non-UTC offset mean the same instant as in UTC; a time without an
offset is refused where nobody can say which zone it is in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from evidence.audit import Actor
from evidence.db.tables import AnprRead, HotlistEntry, utcnow
from evidence.keys import create_key
from evidence.settings import Settings

pytestmark = pytest.mark.fast  # `make check`: no clip analysed, no server started

ADMIN = Actor("test-admin", "admin")
PLUS1, MINUS5 = timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))


@pytest.fixture
def anpr(database_url, tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url))
    rt = app.state.runtime
    client = TestClient(app)
    cam = {"Authorization": f"Bearer {create_key(rt, 'CAM-A40-J3', 'camera', ADMIN)[1]}"}
    staff = {"Authorization": f"Bearer {create_key(rt, 'DC Jones', 'investigator', ADMIN)[1]}"}
    cr = {"Authorization": f"Bearer {create_key(rt, 'desk 3', 'control_room', ADMIN)[1]}"}
    incident = client.post("/incidents", json={"reference": "INC-UTC"}, headers=cr).json()["id"]
    return client, rt, cam, staff, cr, incident


def _read(at, vrm="AB12CDE"):
    return {"camera_id": "CAM-A40-J3", "timestamp": at.isoformat(), "vrm": vrm, "confidence": 0.93}


def _hits(client, incident, headers):
    return [e for e in client.get(f"/incidents/{incident}/timeline", headers=headers).json() if e["kind"] == "anpr.hit"]


def test_a_read_with_a_non_utc_offset_is_stored_in_utc_and_hits(anpr):
    client, rt, cam, _, cr, incident = anpr
    client.post("/hotlist", headers=cr, json={"vrm": "AB12CDE", "reason": "fireworks", "category": "wanted",
                                              "incident_id": incident})
    at = (utcnow() - timedelta(minutes=3)).replace(microsecond=0).astimezone(PLUS1)  # e.g. 05:02:49+01:00
    res = client.post("/anpr/reads", headers=cam, json=_read(at))
    assert res.status_code == 201, res.json()
    assert res.json()["duplicate"] is False and res.json()["hit"] is True and res.json()["read_id"]
    with rt.sessions() as s:
        stored = s.scalars(select(AnprRead)).one().read_at
    assert stored == at and stored.tzinfo == UTC and stored.hour == at.astimezone(UTC).hour
    hits = _hits(client, incident, cr)
    assert len(hits) == 1 and datetime.fromisoformat(hits[0]["read_at"]) == at
    # The same instant written in UTC is the same read.
    again = client.post("/anpr/reads", headers=cam, json=_read(at.astimezone(UTC)))
    assert again.status_code == 200 and again.json()["duplicate"] is True and len(_hits(client, incident, cr)) == 1


def test_hotlist_expiry_with_an_offset_is_the_instant_it_names(anpr):
    client, _, cam, _, cr, incident = anpr
    now = utcnow()
    # Lapsed half an hour ago, written at +05:00 (its wall time is later than UTC now); live for another
    # half hour, written at -05:00 (its wall time is earlier than UTC now).
    lapsed = client.post("/hotlist", headers=cr, json={"vrm": "XY12ZZZ", "reason": "r", "category": "wanted",
                                                       "incident_id": incident,
                                                       "expires_at": (now - timedelta(minutes=30)).astimezone(
                                                           timezone(timedelta(hours=5))).isoformat()})
    live = client.post("/hotlist", headers=cr, json={"vrm": "AB12CDE", "reason": "r", "category": "wanted",
                                                     "incident_id": incident,
                                                     "expires_at": (now + timedelta(minutes=30)).astimezone(
                                                         MINUS5).isoformat()})
    assert lapsed.status_code == live.status_code == 201
    assert datetime.fromisoformat(live.json()["expires_at"]) == now + timedelta(minutes=30)
    assert live.json()["expires_at"].endswith("Z")  # answered in UTC
    assert client.post("/anpr/reads", headers=cam, json=_read(now - timedelta(seconds=5), "XY12ZZZ")).json()["hit"] is False
    assert client.post("/anpr/reads", headers=cam, json=_read(now - timedelta(seconds=5), "AB12CDE")).json()["hit"] is True


def test_plate_search_window_with_offsets(anpr):
    client, _, cam, staff, _, _ = anpr
    base = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    for i in range(3):  # reads an hour apart: base, base+1h, base+2h (UTC)
        assert client.post("/anpr/reads", headers=cam, json=_read(base + timedelta(hours=i))).status_code == 201
    since = (base + timedelta(minutes=30)).astimezone(PLUS1).isoformat()  # = base+30min UTC
    until = (base + timedelta(minutes=90)).astimezone(MINUS5).isoformat()  # = base+90min UTC
    found = client.get("/search/plates", headers=staff, params={"q": "AB12CDE", "reason": "op NIGHTJAR",
                                                                "since": since, "until": until}).json()
    assert [datetime.fromisoformat(r["at"]) for r in found["results"]] == [base + timedelta(hours=1)]


def test_a_time_without_an_offset_is_refused(anpr):
    client, _, cam, staff, cr, _ = anpr
    naive = utcnow().replace(tzinfo=None).isoformat()
    res = client.get("/search/plates", headers=staff, params={"q": "AB12CDE", "reason": "r", "since": naive})
    assert res.status_code == 422 and res.json()["code"] == "invalid_request"
    res = client.post("/hotlist", headers=cr, json={"vrm": "AB12CDE", "reason": "r", "category": "w", "expires_at": naive})
    assert res.status_code == 422
    res = client.post("/anpr/reads", headers=cam, json=_read(utcnow().replace(tzinfo=None)))
    assert res.status_code == 422 and "timezone" in res.json()["message"]


def test_every_stored_time_comes_back_in_utc(anpr):
    _, rt, _, _, _, _ = anpr
    with rt.sessions.begin() as s:
        s.add(HotlistEntry(vrm="AB12CDE", vrm_key="AB12CDE", reason="r", category="c", added_by="x",
                           expires_at=utcnow().astimezone(MINUS5)))
    with rt.sessions() as s:
        row = s.scalars(select(HotlistEntry)).one()
    assert row.expires_at.tzinfo == UTC and row.added_at.tzinfo == UTC
