"""The HTTP API from the caller's side: keys and roles (every route x every role), incidents with
their evidence and candidates, reviews, audited reads, JSON errors with a stable code."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from conftest import ANALYSED_INCIDENT
from evidence.audit import Actor, verify_audit
from evidence.db.tables import AuditEntry, CandidateRow
from evidence.keys import ROLES, create_key, revoke_key
from evidence.settings import Settings

ADMIN = Actor("test-admin", "admin")


@pytest.fixture
def api(analysed_env, monkeypatch, face_models):
    """An app on a copy of the analysed street clip (with candidates, incident INC-R), and a key per
    role."""
    monkeypatch.setenv("EVIDENCE_AUTH_FAILURES_PER_MIN", "100000")  # the role matrix sends bad keys on purpose
    app = create_app(Settings())
    rt = app.state.runtime
    rt.faces = face_models
    keys = {role: create_key(rt, f"{role} user", role, ADMIN)[1] for role in ROLES}
    with rt.sessions() as s:
        candidate = s.scalars(select(CandidateRow)).first()
    return TestClient(app), keys, rt, candidate.id


def _auth(key):
    return {"Authorization": f"Bearer {key}"}


def _roles(route: APIRoute) -> tuple[str, ...] | None:
    for dep in route.dependant.dependencies:
        if hasattr(dep.call, "roles"):
            return dep.call.roles
    return None


def _api_routes(routes):
    """Every APIRoute, those of included routers too (FastAPI >= 0.16x keeps them behind a wrapper)."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from _api_routes(r.original_router.routes)


# No key: liveness, and the upload link is the permission (one-shot or resumable).
PUBLIC = {"/health", "/ready", "/metrics", "/public/uploads/{token}", "/public/tus/{token}", "/public/tus/{token}/{upload_id}",
          "/public/tus/{token}/{upload_id}/receipt"}


def _call(client, route: APIRoute, headers, candidate_id):
    path = route.path.replace("{incident_id}", "1").replace("{candidate_id}", str(candidate_id))
    path = path.replace("{subject_id}", "1").replace("{read_id}", "1").replace("{hotlist_id}", "1")
    path = path.replace("{sighting_id}", "1").replace("{track_id}", "1").replace("{evidence_id}", "1")
    method = sorted(route.methods)[0]
    body = {"/incidents": {"reference": "INC-M"}, "/incidents/{incident_id}/upload-links": {},
            "/hotlist": {"vrm": "AB12CDE", "reason": "role matrix", "category": "wanted"}, "/anpr/reads": {},
            "/candidates/{candidate_id}/review": {"decision": "rejected", "reason": "role matrix"},
            "/plate-sightings/{sighting_id}/review": {"decision": "rejected", "reason": "role matrix"},
            "/incidents/{incident_id}/export": {"reason": "role matrix"}}.get(route.path)
    params = {"max_s": 0.1} if route.path.endswith("/events") else {"reason": "matrix"} if method == "DELETE" else None
    return client.request(method, path, headers=headers, json=body if method == "POST" else None, params=params)


def test_every_route_declares_its_roles_and_enforces_them(api):
    client, keys, _, candidate_id = api
    # The pages (include_in_schema=False) have their own sign-in: tests/test_pages.py.
    routes = [r for r in _api_routes(client.app.routes) if r.path not in PUBLIC and r.include_in_schema]
    assert len(routes) >= 25 and all(_roles(r) is None for r in _api_routes(client.app.routes)
                                     if isinstance(r, APIRoute) and r.path in PUBLIC)
    for route in routes:
        allowed = _roles(route)
        assert allowed, f"{route.path} declares no roles"
        assert set(allowed) <= set(ROLES)
        assert "Roles:" in (route.description or ""), f"{route.path}: OpenAPI description must name the roles"
        for role in ROLES:
            res = _call(client, route, _auth(keys[role]), candidate_id)
            if role in allowed:
                assert res.status_code not in (401, 403), (route.path, role, res.json())
            else:
                assert res.status_code == 403 and res.json()["code"] == "forbidden", (route.path, role)
        for headers in ({}, _auth("ep_forged"), {"Authorization": "Basic abc"}):
            res = _call(client, route, headers, candidate_id)
            assert res.status_code == 401 and res.json()["code"] == "unauthorized", (route.path, headers)
    assert client.get("/health").status_code == 200


def test_opening_an_incident_follows_one_title_rule_whoever_opens_it(runtime):
    """The API, the incidents page and `evidence process --lists` all open an incident through
    evidence.incidents.open_incident: a title names it while it has none of its own; a type is
    kept once given; every opening is audited."""
    from evidence.incidents import open_incident

    desk = Actor("PC 1234 Smith", "control_room")
    with runtime.sessions.begin() as s:
        assert open_incident(s, "INC-T", desk).title == "INC-T"  # by a clip's upload: its reference
        assert open_incident(s, "INC-T", desk, title="  bins on fire ").title == "bins on fire"
        again = open_incident(s, "INC-T", desk, title="something else", incident_type="arson")
        assert (again.title, again.incident_type) == ("bins on fire", "arson")
        assert open_incident(s, "INC-T", desk, incident_type="criminal damage").incident_type == "arson"
    with runtime.sessions() as s:
        opened = s.scalars(select(AuditEntry).where(AuditEntry.action == "incident.open")).all()
    assert len(opened) == 4 and {e.actor for e in opened} == {"PC 1234 Smith"}


def test_incident_view_review_and_audit(api):
    client, keys, rt, _ = api
    cr = _auth(keys["control_room"])
    made = client.post("/incidents", json={"reference": "INC-NEW", "title": "fireworks"}, headers=cr)
    assert made.status_code == 201 and made.json()["title"] == "fireworks"
    assert {i["reference"] for i in client.get("/incidents", headers=cr).json()} == {ANALYSED_INCIDENT, "INC-NEW"}
    incident = client.get("/incidents/1", headers=cr).json()
    cands = incident["evidence"][0]["candidates"]
    assert {c["subject"] for c in cands} == {"Gordon_Brown", "Kim_Clijsters"}
    assert all(c["review_state"] == "pending" for c in cands)
    crop = client.get(cands[0]["crop_url"], headers=cr)
    assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"
    no_reason = client.post(f"/candidates/{cands[0]['id']}/review", json={"decision": "confirmed"}, headers=cr)
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "invalid_request"
    done = client.post(f"/candidates/{cands[0]['id']}/review", json={"decision": "confirmed", "reason": "seen it"},
                       headers=cr)
    assert done.json() == {"id": cands[0]["id"], "review_state": "confirmed", "reviewed_by": "control_room user",
                           "reason": "seen it"}
    again = client.post(f"/candidates/{cands[0]['id']}/review", json={"decision": "rejected", "reason": "x"},
                        headers=cr)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert client.get("/incidents/99", headers=cr).json()["code"] == "not_found"
    with rt.sessions() as s:
        actions = [(e.actor, e.action) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert ("control_room user", "incident.view") in actions
        assert ("control_room user", "candidate.view_crop") in actions
        assert ("control_room user", "candidate.confirmed") in actions
        assert verify_audit(s).ok


def test_a_revoked_key_stops_working(api):
    client, keys, rt, _ = api
    with rt.sessions() as s:
        from evidence.db.tables import ApiKey

        row = s.scalar(select(ApiKey).where(ApiKey.role == "investigator"))
    assert client.get("/incidents", headers=_auth(keys["investigator"])).status_code == 200
    revoke_key(rt, row.id, ADMIN)
    assert client.get("/incidents", headers=_auth(keys["investigator"])).status_code == 401


def test_keys_create_prints_the_key_last(cli):
    res = cli("keys", "create", "--role", "camera", "--name", "ANPR cam 7")
    assert res.exit_code == 0
    key = res.stdout.split()[-1]
    assert key.startswith("ep_") and len(key) > 40
    assert "camera" in cli("keys", "list").stdout
    bad = cli("keys", "create", "--role", "superuser", "--name", "x")
    assert bad.exit_code == 2


def test_evidence_serve_answers_over_real_http(env, tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "evidence"), "serve", "--port", str(port)],
                            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert res.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/incidents").json()["code"] == "unauthorized"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_watchlist_over_http(api, watchlist_dir, tmp_path):
    client, keys, _, _ = api
    admin = _auth(keys["admin"])
    before = {w["name"] for w in client.get("/watchlist", headers=_auth(keys["control_room"])).json()}
    photos = sorted((watchlist_dir / "Tom_Ridge").glob("*.jpg"))[:2]
    files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
    res = client.post("/watchlist", headers=admin, data={"name": "Jane Doe", "source": "custody image CI/1",
                                                         "reason": "wanted on warrant", "expires": "2039-02-28",
                                                         "risk": "violent; may carry a knife"},
                      files=files)
    assert res.status_code == 201 and res.json()["references"] == 2, res.json()
    assert res.json()["risk"] == "violent; may carry a knife"  # shown on each potential match (issue 28, 5)
    assert (res.json()["source"], res.json()["reason"], res.json()["expires_at"]) == (
        "custody image CI/1", "wanted on warrant", "2039-02-28T23:59:59Z")
    not_a_date = client.post("/watchlist", headers=admin, data={"name": "Jane Doe", "expires": "28/02/2039"}, files=files)
    assert not_a_date.status_code == 422 and "YYYY-MM-DD" in not_a_date.json()["message"]
    two_lines = client.post("/watchlist", headers=admin, data={"name": "Jane\nDoe"}, files=files)
    assert two_lines.status_code == 422 and "`name`" in two_lines.json()["message"]
    no_list = client.post("/watchlist", headers=admin, data={"name": "Jane Doe", "watchlist": "nope"}, files=files)
    assert no_list.status_code == 404 and "no watchlist called 'nope'" in no_list.json()["message"]
    bad = client.post("/watchlist", headers=admin, data={"name": "Nobody"},
                      files=[("images", ("x.jpg", b"not a photo", "image/jpeg"))])
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_reference"
    names = {w["name"] for w in client.get("/watchlist", headers=admin).json()}
    assert names == before | {"Jane Doe"}
    no_reason = client.delete(f"/watchlist/{res.json()['id']}", headers=admin)
    assert no_reason.status_code == 422
    gone = client.delete(f"/watchlist/{res.json()['id']}", headers=admin, params={"reason": "enrolled in error"})
    assert gone.json() == {"id": res.json()["id"], "name": "Jane Doe", "removed": True}
    assert {w["name"] for w in client.get("/watchlist", headers=admin).json()} == before


def test_an_agents_streams_are_registered_with_its_key(cli):
    """Issue 29 (2): an OpenALPR agent's key names the streams it may report (at most 32)."""
    made = cli("keys", "create", "--role", "camera", "--name", "M4-J13", "--stream", "1234", "--stream", "1235")
    assert made.exit_code == 0, made.output
    assert cli("keys", "create", "--role", "investigator", "--name", "x", "--stream", "1").exit_code != 0
    too_many = cli("keys", "create", "--role", "camera", "--name", "M4-J14", *[f"--stream={i}" for i in range(33)])
    assert too_many.exit_code != 0 and "at most 32 streams" in too_many.output
    key_id = made.output.split()[1]
    again = cli("keys", "streams", key_id, "--stream", "1234", "--stream", "1236")  # a camera added, one taken away
    assert again.exit_code == 0 and "streams 1234, 1236" in again.output
