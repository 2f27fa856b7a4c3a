"""Governance in code, from the user's side: watchlists authorised for a purpose with an expiry (an
expired subject or list never matches, and is purged with an audit record), candidates naming
their list and authority; bystanders' face tracks deleted on schedule unless the incident is held,
forgotten by face search, each deletion audited; the command line acting as a named person only;
ANPR reads past 90 days only with a second named person's approval."""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from api.main import create_app
from evidence.audit import Actor
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import (AnprRead, AuditEntry, CandidateRow, Derivative, Evidence, FaceTrackRow, Incident,
                                WatchlistReference, WatchlistSubjectRow)
from evidence.keys import create_key
from pipeline.errors import EvidenceError
from evidence.settings import Settings
from evidence.users import add_user
from evidence.utc import utcnow
from tests.served import run

ADMIN = Actor("test set-up", "admin")
OP = ["--purpose", "arson attacks on Elm Road, Nov 2026", "--legal-basis", "common law policing purpose; DPA 2018 s35",
      "--category", "wanted", "--authorised-by", "Supt 0192 Jane Hale", "--expires", "2099-01-01", "--max-subjects", "2"]


def _photos(watchlist_dir: Path, name: str) -> list[Path]:
    return sorted((watchlist_dir / name).glob("*.jpg"))


def _audit(rt, action):
    with rt.sessions() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_expired_subjects_and_lists_never_match_and_candidates_name_their_list_and_authority(
        cli, runtime, watchlist_dir, clips):
    assert cli("watchlist", "create", "op-nightjar", *OP).exit_code == 0
    res = cli("watchlist", "add", "--list", "op-nightjar", "--name", "Gordon_Brown", "--source", "custody 01/2345/26",
              "--reason", "wanted for arson", "--expires", "2099-01-01", *_photos(watchlist_dir, "Gordon_Brown"))
    assert res.exit_code == 0, res.output
    assert cli("watchlist", "add", "--list", "op-nightjar", "--name", "Kim_Clijsters",
               *_photos(watchlist_dir, "Kim_Clijsters")).exit_code == 0
    full = cli("watchlist", "add", "--list", "op-nightjar", "--name", "Tom_Ridge", *_photos(watchlist_dir, "Tom_Ridge"))
    assert full.exit_code == 2 and "authorised for at most 2 subjects" in full.output
    with runtime.sessions.begin() as s:  # time passes: Kim's entry expired yesterday
        s.execute(update(WatchlistSubjectRow).where(WatchlistSubjectRow.name == "Kim_Clijsters")
                  .values(expires_at=utcnow() - timedelta(days=1)))

    out = json.loads(cli("process", clips["street"], "--incident", "INC-GOV", "--lists", "op-nightjar",
                         "--no-plates", "--json").stdout)
    assert [c["subject"] for c in out["candidates"]] == ["Gordon_Brown"]  # Kim is in the clip; her entry expired
    c = out["candidates"][0]
    assert (c["watchlist"], c["authority"], c["subject_version"]) == ("op-nightjar", "Supt 0192 Jane Hale", 1)
    with runtime.sessions() as s:
        row = s.get(CandidateRow, c["id"])
        assert row.watchlist_id == s.scalar(select(WatchlistRow.id).where(WatchlistRow.name == "op-nightjar"))

    # A review is the decision of the key's holder, never a typed name; without a credential, refused.
    desk = create_key(runtime, "PC 1234 Smith", "control_room", ADMIN)[1]
    refused = cli.as_key(None, "review", c["id"], "--decision", "confirmed", "--reason", "same man")
    assert refused.exit_code == 2 and "acts as a named person" in refused.output
    assert cli.as_key(desk, "review", c["id"], "--decision", "confirmed", "--user", "Someone Else",
                      "--reason", "x").exit_code == 2  # there is no --user to claim
    done = cli.as_key(desk, "review", c["id"], "--decision", "confirmed", "--reason", "same man, same jacket")
    assert done.exit_code == 0 and "by PC 1234 Smith" in done.output

    # The whole list expires: footage of an incident using it matches nobody.
    with runtime.sessions.begin() as s:
        wl = s.scalar(select(WatchlistRow).where(WatchlistRow.name == "op-nightjar"))
        s.add(Incident(reference="INC-GOV-2", title="", watchlists=[wl.id]))
        wl.expires_at = utcnow() - timedelta(minutes=1)
    again = json.loads(cli("process", clips["street"], "--incident", "INC-GOV-2", "--no-plates", "--json").stdout)
    assert again["candidates"] == []
    assert "expired" in cli("process", clips["street"], "--incident", "INC-GOV-3", "--lists", "op-nightjar").output

    # Purged: references and their photos deleted, rows kept for the candidates' history, audited.
    with runtime.sessions() as s:
        photos = [runtime.store.absolute(p) for p in s.scalars(select(WatchlistReference.store_path))]
    assert photos and all(p.exists() for p in photos)
    assert cli("watchlist", "purge").output.strip() == "purged 1 list(s), 2 subject(s)"
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WatchlistReference)) == 0
        assert all(r.purged_at is not None for r in s.scalars(select(WatchlistSubjectRow)))
        assert s.get(CandidateRow, c["id"]).review_state == "confirmed"
    assert not any(p.exists() for p in photos)
    (entry,) = _audit(runtime, "watchlist.purge")
    assert entry.detail["lists"] == ["op-nightjar"] and sorted(entry.detail["subjects"]) == ["Gordon_Brown",
                                                                                             "Kim_Clijsters"]
    assert "expired" in entry.reason and entry.actor == "Test Administrator"
    assert cli("watchlist", "purge").output.strip() == "purged 0 list(s), 0 subject(s)"


def test_watchlist_add_keeps_working_on_the_default_list_with_an_expiry(cli, runtime, watchlist_dir):
    res = cli("watchlist", "add", "--name", "Tom_Ridge", "--expires", "2099-03-01", *_photos(watchlist_dir, "Tom_Ridge"))
    assert res.exit_code == 0, res.output
    listed = json.loads(cli("watchlist", "list", "--json").stdout)
    assert [(r["list"], r["name"], r["expires_at"][:10]) for r in listed] == [("default", "Tom_Ridge", "2099-03-01")]
    past = cli("watchlist", "add", "--name", "Jennifer_Garner", "--expires", "2020-01-01",
               *_photos(watchlist_dir, "Jennifer_Garner"))
    assert past.exit_code == 2 and "has passed" in past.output


def test_unmatched_tracks_are_deleted_on_schedule_unless_held_forgotten_by_search_and_audited(
        cli, runtime, watchlist_dir, clips):
    assert cli("watchlist", "add", "--name", "Gordon_Brown", *_photos(watchlist_dir, "Gordon_Brown")).exit_code == 0
    out = json.loads(cli("process", clips["street"], "--incident", "INC-BY", "--no-plates", "--json").stdout)
    assert [c["subject"] for c in out["candidates"]] == ["Gordon_Brown"] and out["tracks"] >= 3
    probe = _photos(watchlist_dir, "Kim_Clijsters")[0]  # Kim is a bystander here: not on the watchlist

    def kim() -> list[dict]:
        return json.loads(cli("search", "face", probe, "--reason", "who else was there", "--json").stdout)["results"]

    assert kim(), "the bystander is found before her track is deleted"
    with runtime.sessions() as s:
        kept = set(s.scalars(select(CandidateRow.track_id)))
        doomed = {t.id: runtime.store.absolute(t.crop.store_path) for t in s.scalars(select(FaceTrackRow))
                  if t.id not in kept}
    assert doomed and all(p.exists() for p in doomed.values())

    run_ = "deleted {} unmatched face track(s) older than 31 days"
    assert run_.format(0) in cli("retention", "run").output  # analysed just now: within the period
    with runtime.sessions.begin() as s:  # 40 days pass
        s.execute(update(Evidence).values(finished_at=utcnow() - timedelta(days=40)))
    assert cli("retention", "hold", "INC-BY", "--reason", "Op Nightjar: arson inquiry").exit_code == 0
    assert run_.format(0) in cli("retention", "run").output  # held for investigation: kept
    assert cli("retention", "release", "INC-BY", "--reason", "no further action").exit_code == 0
    assert run_.format(len(doomed)) in cli("retention", "run").output

    with runtime.sessions() as s:
        assert set(s.scalars(select(FaceTrackRow.id))) == kept
        assert not s.scalar(select(func.count()).select_from(Derivative).where(Derivative.store_path.in_(
            [runtime.store.relative(p) for p in doomed.values()])))
    assert not any(p.exists() for p in doomed.values())
    assert kim() == []
    saved = json.loads(runtime.face_index.meta_path.read_text())  # rebuilt without them at that search
    assert saved["count"] == len(kept) and saved["epoch"] == 1
    (entry,) = _audit(runtime, "retention.bystanders")
    assert sorted(entry.detail["track_ids"]) == sorted(doomed) and "31" in entry.reason
    assert [e.reason for e in _audit(runtime, "retention.hold")] == ["Op Nightjar: arson inquiry"]


def test_a_change_from_the_command_line_without_an_identity_is_refused(database_url, tmp_path, watchlist_dir):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")},
           "EVIDENCE_DATABASE_URL": database_url, "EVIDENCE_DATA_DIR": str(tmp_path / "data"), "EVIDENCE_KEY": ""}
    # A new database: the console may make the first administrator (and only an administrator).
    assert "administrator" in run("keys", "create", "--role", "investigator", "--name", "DC X", env=env,
                                  check=False).stderr
    first = run("users", "add", "--name", "Insp 77 Ward", "--role", "admin", env=env)
    assert "one-time password" in first.stdout
    nobody = run("watchlist", "add", "--name", "Tom_Ridge", *_photos(watchlist_dir, "Tom_Ridge"), env=env, check=False)
    assert nobody.returncode == 2 and "acts as a named person" in nobody.stderr
    assert run("keys", "create", "--role", "admin", "--name", "me", env=env, check=False).returncode == 2
    wrong = run("watchlist", "purge", env={**env, "EVIDENCE_USER": "Insp 77 Ward", "EVIDENCE_PASSWORD": "guess"},
                check=False)
    assert wrong.returncode == 2 and "do not match" in wrong.stderr
    admin = create_key_in(database_url, tmp_path, "Insp 77 Ward", "admin")
    investigator = create_key_in(database_url, tmp_path, "DC 4411 Jones", "investigator")
    not_admin = run("watchlist", "purge", env={**env, "EVIDENCE_KEY": investigator}, check=False)
    assert not_admin.returncode == 2 and "needs admin" in not_admin.stderr
    assert run("watchlist", "purge", env={**env, "EVIDENCE_KEY": admin}).returncode == 0
    asked = run("anpr", "access", "request", "XY51ABC", "--reason", "Op Nightjar", env={**env, "EVIDENCE_KEY": investigator})
    assert "pending" in asked.stdout
    own = run("anpr", "access", "decide", "1", "--decision", "approved", "--reason", "x",
              env={**env, "EVIDENCE_KEY": investigator}, check=False)
    assert own.returncode == 2 and "needs authority" in own.stderr
    rt = runtime_for(database_url, tmp_path)
    with rt.sessions() as s:
        assert s.scalar(select(func.count()).select_from(WatchlistSubjectRow)) == 0
        actors = set(s.scalars(select(AuditEntry.actor)))
    assert not any(a.startswith("cli:") for a in actors) and "Insp 77 Ward" in actors


def runtime_for(database_url, tmp_path):
    from evidence.runtime import Runtime

    return Runtime(Settings(database_url=database_url, data_dir=tmp_path / "data"))


def create_key_in(database_url, tmp_path, name, role):
    return create_key(runtime_for(database_url, tmp_path), name, role, ADMIN)[1]


@pytest.fixture
def anpr_app(database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EVIDENCE_DATABASE_URL", database_url)
    app = create_app(Settings())
    rt = app.state.runtime
    keys = {name: {"Authorization": f"Bearer {create_key(rt, name, role, ADMIN)[1]}"}
            for name, role in (("CAM-A40-J3", "camera"), ("DC 4411 Jones", "investigator"),
                               ("Insp 0192 Khan", "authority"), ("Insp 0555 Ward", "authority"),
                               ("Insp 9999 Nobody", "authority"))}
    for name in ("Insp 0192 Khan", "Insp 0555 Ward"):  # people with the authority role (their keys carry their names)
        add_user(rt, name, "authority", ADMIN)
    with TestClient(app) as client:
        yield client, rt, keys


def test_anpr_access_past_90_days_needs_a_second_named_person_with_authority(anpr_app):
    client, rt, keys = anpr_app
    cam, dc, khan, ward = keys["CAM-A40-J3"], keys["DC 4411 Jones"], keys["Insp 0192 Khan"], keys["Insp 0555 Ward"]
    read = {"camera_id": "CAM-A40-J3", "timestamp": utcnow().isoformat(), "vrm": "XY51ABC", "confidence": 0.9,
            "plate_image": base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 100).decode()}
    read_id = client.post("/anpr/reads", headers=cam, json=read).json()["read_id"]
    with rt.sessions.begin() as s:  # the read is now 100 days old
        s.execute(update(AnprRead).values(read_at=utcnow() - timedelta(days=100)))
    since = (utcnow() - timedelta(days=120)).isoformat()
    search = {"q": "XY51ABC", "reason": "Op Nightjar: the car in November", "since": since}

    def refused(res):
        return res.status_code == 403 and res.json()["code"] == "approval_required"

    assert refused(client.get("/search/plates", headers=dc, params=search))
    assert refused(client.get(f"/anpr/reads/{read_id}/plate", headers=dc, params={"reason": "a reason is not enough"}))
    recent = client.get("/search/plates", headers=dc, params={k: v for k, v in search.items() if k != "since"})
    assert recent.status_code == 200 and recent.json()["count"] == 0  # the last 90 days only
    assert recent.json()["reads_since"] > since

    asked = client.post("/anpr/access", headers=dc, json={"query": "XY51ABC", "reason": "Op Nightjar: arson, the "
                                                          "suspect's car seen in November"})
    assert asked.status_code == 201 and asked.json()["state"] == "pending"
    access = asked.json()["id"]
    assert refused(client.get("/search/plates", headers=dc, params={**search, "access": access}))  # not approved yet
    assert client.post(f"/anpr/access/{access}/decision", headers=dc,
                       json={"decision": "approved", "reason": "mine"}).status_code == 403  # not the authority role
    ghost = client.post(f"/anpr/access/{access}/decision", headers=keys["Insp 9999 Nobody"],
                        json={"decision": "approved", "reason": "a key is not a person"})
    assert ghost.status_code == 403 and "person account" in ghost.json()["message"]

    # Two inspectors decide at once: one decision stands, the other is told it was already made.
    answers: list[int] = []
    barrier = threading.Barrier(2)

    def decide(headers, decision):
        barrier.wait()
        answers.append(client.post(f"/anpr/access/{access}/decision", headers=headers,
                                   json={"decision": decision, "reason": "proportionate: serious arson"}).status_code)

    threads = [threading.Thread(target=decide, args=(khan, "approved")), threading.Thread(target=decide,
                                                                                       args=(ward, "approved"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 409]
    row = client.get("/anpr/access", headers=dc).json()[0]
    assert row["state"] == "approved" and row["decided_by"] in ("Insp 0192 Khan", "Insp 0555 Ward")

    found = client.get("/search/plates", headers=dc, params={**search, "access": access})
    assert found.status_code == 200 and [r["vrm"] for r in found.json()["results"]] == ["XY51ABC"]
    assert client.get(f"/anpr/reads/{read_id}/plate", headers=dc, params={"access": access}).status_code == 200
    assert refused(client.get("/search/plates", headers=dc, params={**search, "q": "AB12CDE", "access": access}))
    with rt.sessions.begin() as s:  # the approval runs out
        from evidence.db.governance_tables import AnprAccess

        s.execute(update(AnprAccess).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert refused(client.get("/search/plates", headers=dc, params={**search, "access": access}))
    actions = [e.action for e in _audit(rt, "anpr.access_request") + _audit(rt, "anpr.access_approved")]
    assert actions == ["anpr.access_request", "anpr.access_approved"]
    (approval,) = _audit(rt, "anpr.access_approved")
    assert approval.reason == "proportionate: serious arson" and approval.detail["requested_by"] == "DC 4411 Jones"


def test_two_people_holding_one_incident_at_once_one_hold_stands(database_url, tmp_path):
    """A hold read-modify-writes the incident: at once, one stands and the other is told who holds it;
    releasing an incident that is not held is refused, not audited as a release."""
    from evidence.errors import Conflict
    from evidence.retention import hold, release
    from evidence.work import get_or_create_incident

    rt = runtime_for(database_url, tmp_path)
    with rt.sessions.begin() as s:
        get_or_create_incident(s, "INC-HOLD")
    barrier, answers = threading.Barrier(2), []

    def hold_it(name):
        barrier.wait()
        try:
            hold(rt, "INC-HOLD", f"{name}'s inquiry", Actor(name, "investigator"))
            answers.append("held")
        except Conflict as exc:
            answers.append(exc.message)

    threads = [threading.Thread(target=hold_it, args=(n,)) for n in ("DC 1 Ali", "DC 2 Berry")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers)[0] == "held" and "is already held by DC" in sorted(answers)[1], answers
    release(rt, "INC-HOLD", "  inquiry closed ", Actor("DC 1 Ali", "investigator"))
    with pytest.raises(Conflict, match="not held"):
        release(rt, "INC-HOLD", "again", Actor("DC 1 Ali", "investigator"))
    with rt.sessions() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action.like("retention.%")).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["retention.hold", "retention.release"]
    assert entries[1].reason == "inquiry closed"


def test_a_request_is_not_approved_by_its_requester_under_another_case(anpr_app):
    """Issue 29 (10): a key named "insp 0192 khan" asks; Insp 0192 Khan may not approve it (the same
    person to anyone reading the audit); and no second person may be called "insp 0192 KHAN"."""
    client, rt, keys = anpr_app
    alias = {"Authorization": f"Bearer {create_key(rt, 'ｉnsp  0192 khan', 'investigator', ADMIN)[1]}"}  # fullwidth ｉ
    asked = client.post("/anpr/access", headers=alias, json={"query": "XY51ABC", "reason": "Op Nightjar"}).json()
    own = client.post(f"/anpr/access/{asked['id']}/decision", headers=keys["Insp 0192 Khan"],
                      json={"decision": "approved", "reason": "mine"})
    assert own.status_code == 403 and "second person" in own.json()["message"]
    assert client.post(f"/anpr/access/{asked['id']}/decision", headers=keys["Insp 0555 Ward"],
                       json={"decision": "approved", "reason": "proportionate"}).status_code == 200
    with pytest.raises(EvidenceError, match="already called"):
        add_user(rt, "insp 0192 KHAN", "investigator", ADMIN)
