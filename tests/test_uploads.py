"""Uploads over HTTP, from officers (a key) and from the public (an upload link): streamed, hashed,
sniffed from the bytes, capped; bad uploads are a 4xx with a `code` and leave no file and no row;
the incident's timeline and live feed show the evidence arriving, its progress and its candidates."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.main import create_app
from conftest import FACES
from evidence.audit import Actor
from evidence.db.tables import Evidence, utcnow
from evidence.db.upload_tables import UploadLink
from evidence.keys import create_key
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments

ADMIN = Actor("test-admin", "admin")


@pytest.fixture
def app(env, monkeypatch, face_models, watchlist_dir):
    monkeypatch.setenv("EVIDENCE_WORKING_COPY", "false")
    monkeypatch.setenv("EVIDENCE_MAX_UPLOAD_BYTES", str(8_000_000))
    app = create_app(Settings())
    rt = app.state.runtime
    rt.faces = face_models
    enrol(rt, folder_enrolments(watchlist_dir), ADMIN)
    client = TestClient(app)
    keys = {r: {"Authorization": f"Bearer {create_key(rt, f'{r} one', r, ADMIN)[1]}"}
            for r in ("control_room", "uploader")}
    incident = client.post("/incidents", json={"reference": "INC-UP"}, headers=keys["control_room"]).json()
    return client, keys, rt, incident["id"]


def _nothing_stored(rt):
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Evidence)) == 0
    originals = rt.store.root / "originals"
    assert not originals.exists() or not any(p.is_file() for p in originals.rglob("*"))
    tmp = rt.store.root / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())


def _sse(client, incident_id, headers, **params):
    with client.stream("GET", f"/incidents/{incident_id}/events", headers=headers,
                       params={"max_s": 0.5, **params}) as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        text = "".join(res.iter_text())
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append(json.loads(fields["data"]))
    return events


def test_officer_upload_is_analysed_and_the_feed_shows_it(app, clips):
    client, keys, rt, incident_id = app
    with clips["street"].open("rb") as f:
        res = client.post(f"/incidents/{incident_id}/evidence", headers=keys["uploader"],
                          files={"file": ("bwv_0042.mp4", f, "video/mp4")}, data={"caption": "PC 1234 BWV"})
    assert res.status_code == 201, res.json()
    ev = res.json()
    assert ev["name"] == "bwv_0042.mp4" and ev["duplicate"] is False and len(ev["sha256"]) == 64
    # No Redis configured: analysed in this process after the response (TestClient runs it at once).
    events = _sse(client, incident_id, keys["control_room"])
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "upload_link.created" or kinds[0] == "evidence.received"
    assert {"evidence.received", "evidence.analysing", "candidate", "evidence.done"} <= set(kinds)
    assert kinds.index("evidence.received") < kinds.index("candidate") < kinds.index("evidence.done")
    assert {e["subject"] for e in events if e["kind"] == "candidate"} == {"Gordon_Brown", "Kim_Clijsters"}
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    # Reconnecting with Last-Event-ID resumes exactly after it.
    cut = events[2]["id"]
    resumed = _sse(client, incident_id, {**keys["control_room"], "Last-Event-ID": str(cut)})
    assert [e["id"] for e in resumed] == [e["id"] for e in events if e["id"] > cut]
    timeline = client.get(f"/incidents/{incident_id}/timeline", headers=keys["control_room"]).json()
    assert [e["id"] for e in timeline] == [e["id"] for e in events]
    with rt.sessions() as s:
        assert s.scalar(select(Evidence.submitted)) == {"by": "uploader one", "role": "uploader",
                                                        "caption": "PC 1234 BWV"}
    # The same bytes again: linked, not stored twice, not analysed again.
    with clips["street"].open("rb") as f:
        again = client.post(f"/incidents/{incident_id}/evidence", headers=keys["uploader"],
                            files={"file": ("copy.mp4", f, "video/mp4")})
    assert again.status_code == 201 and again.json()["duplicate"] is True and again.json()["id"] == ev["id"]


def _link(client, keys, incident_id, **body):
    res = client.post(f"/incidents/{incident_id}/upload-links", json=body, headers=keys["control_room"])
    assert res.status_code == 201, res.json()
    return res.json()


def test_public_upload_through_a_link(app, clips):
    client, keys, rt, incident_id = app
    link = _link(client, keys, incident_id, max_uploads=1)
    with clips["phone"].open("rb") as f:
        res = client.post(link["url"], files={"file": ("IMG_2231.MOV", f, "video/quicktime")},
                          data={"caption": "they threw fireworks at no. 12", "contact": "07700 900123"})
    assert res.status_code == 201, res.json()
    assert res.json()["received"] is True and "id" not in res.json()  # a receipt, not the police's view
    with rt.sessions() as s:
        ev = s.scalar(select(Evidence))
        assert ev.incident_id == incident_id and ev.state == "done"
        assert ev.submitted["caption"].startswith("they threw") and ev.submitted["contact"] == "07700 900123"
        assert ev.submitted["role"] == "public"
    with clips["street"].open("rb") as f:
        used = client.post(link["url"], files={"file": ("b.mp4", f, "video/mp4")})
    assert used.status_code == 410 and used.json()["code"] == "link_used_up"


def _bad(name, data):
    return {"file": (name, data, "video/mp4")}


@pytest.mark.parametrize("case", ["empty", "over_cap", "jpeg_renamed", "truncated", "no_file"])
def test_bad_uploads_are_refused_and_leave_nothing(app, clips, case):
    client, keys, rt, incident_id = app
    clip = clips["street"].read_bytes()
    jpeg = (FACES / "Gordon_Brown" / "Gordon_Brown_0001.jpg").read_bytes()
    files, code, status = {
        "empty": (_bad("a.mp4", b""), "invalid_media", 422),
        "over_cap": (_bad("big.mp4", clip + b"\0" * 5_000_000), "too_large", 413),
        "jpeg_renamed": (_bad("clip.mp4", jpeg), "invalid_media", 422),
        "truncated": (_bad("cut.mp4", clip[: len(clip) // 2]), "invalid_media", 422),
        "no_file": ({"other": ("x.txt", b"hello", "text/plain")}, "invalid_media", 422),
    }[case]
    res = client.post(f"/incidents/{incident_id}/evidence", headers=keys["uploader"], files=files)
    assert res.status_code == status and res.json()["code"] == code, res.json()
    assert res.json()["message"]
    _nothing_stored(rt)


@pytest.mark.parametrize("case", ["forged", "expired", "used_up"])
def test_bad_links_are_refused_and_leave_nothing(app, clips, case):
    client, keys, rt, incident_id = app
    link = _link(client, keys, incident_id, max_uploads=2)
    url = link["url"]
    if case == "forged":
        url = url[:-4] + "AAAA"
    with rt.sessions.begin() as s:
        if case == "expired":
            s.execute(update(UploadLink).values(expires_at=utcnow() - timedelta(minutes=1)))
        if case == "used_up":
            s.execute(update(UploadLink).values(uses=2))
    with clips["street"].open("rb") as f:
        res = client.post(url, files={"file": ("a.mp4", f, "video/mp4")})
    expected = {"forged": (404, "unknown_link"), "expired": (410, "link_expired"), "used_up": (410, "link_used_up")}
    assert (res.status_code, res.json()["code"]) == expected[case]
    _nothing_stored(rt)
