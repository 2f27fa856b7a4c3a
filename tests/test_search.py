"""Investigators from their side: "where else does this face appear?" over HTTP and the CLI, the
same unknown person across clips grouped as one, evidence packages for court that `evidence verify`
checks (and fails when tampered with), redacted disclosure copies. Real clips of real LFW faces,
real dlib, real ffmpeg, a real index."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from conftest import FACES, Cli, frame_at
from evidence.audit import Actor
from evidence.faceindex import embedding_rows
from evidence.db.tables import AuditEntry, CandidateRow, Derivative, Evidence, FaceTrackRow
from evidence.keys import create_key
from evidence.work import analyse_evidence, ingest_clip
from evidence.review import review_candidate
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments
from pipeline.facesearch import pair_distances
from samples.make_samples import Appearance, build_watchlist, render_clip

ADMIN = Actor("test-admin", "admin")
PROBE = FACES / "Hugo_Chavez" / "Hugo_Chavez_0020.jpg"
W, H = 960, 540

# Hugo Chavez (the probe's person) and Lleyton Hewitt (on no watchlist) appear in both clips, in
# other photos each time; a different stranger in each. Hewitt shares the screen with Chavez in the
# park clip (two faces at one moment: never one person); Kirchner steps into the place Chavez left
# 0.6 s earlier (one track would hide Chavez from the search).
PARK = [Appearance("Hugo_Chavez", "Hugo_Chavez_0005", 0.2, 2.6, (0.25, 0.45), (0.3, 0.45), (120, 125), False),
        Appearance("Lleyton_Hewitt", "Lleyton_Hewitt_0003", 0.8, 4.4, (0.75, 0.45), (0.7, 0.5), (120, 130), False),
        Appearance("Nestor_Kirchner", "Nestor_Kirchner_0002", 3.2, 5.8, (0.3, 0.45), (0.35, 0.5), (120, 125), False)]
BUS = [Appearance("Ricardo_Lagos", "Ricardo_Lagos_0004", 0.2, 2.4, (0.75, 0.45), (0.7, 0.45), (120, 125), False),
       Appearance("Hugo_Chavez", "Hugo_Chavez_0012", 0.6, 2.8, (0.25, 0.5), (0.3, 0.5), (125, 120), False),
       Appearance("Lleyton_Hewitt", "Lleyton_Hewitt_0010", 3.2, 5.8, (0.5, 0.45), (0.55, 0.45), (125, 130), True)]
PEOPLE = {"park.mp4": PARK, "bus.mp4": BUS}


def _who(name: str, row: FaceTrackRow) -> str:
    """The person a track shows, from the clip's ground truth (time on screen and side of frame)."""
    cx = (row.best_xyxy[0] + row.best_xyxy[2]) / 2 / W
    on = [a for a in PEOPLE[name] if a.t_in_s - 0.3 <= row.best_t_s <= a.t_out_s + 0.3]
    return min(on, key=lambda a: abs((a.start_xy[0] + a.end_xy[0]) / 2 - cx)).name


def _explain(rt, tracks) -> str:
    """Every stored track (clip, person, seconds on screen, faces kept) and the face-by-face
    distances between them: what a grouping failure needs to be understood."""
    with rt.sessions() as s:
        rows = s.scalars(select(FaceTrackRow).order_by(FaceTrackRow.id)).all()
        lines = [f"{r.id}: {tracks[r.id][:2]} segment {r.segment} {r.first_t_s:.2f}-{r.last_t_s:.2f} s, "
                 f"{len(embedding_rows(r.embeddings, 128))} faces" for r in rows]
        d = pair_distances([embedding_rows(r.embeddings, 128) for r in rows])
    return "\n".join(lines + [np.array2string(d, precision=3)])


@pytest.fixture(scope="module")
def footage(tmp_path_factory, face_models):
    """Two incidents with one analysed clip each (plates off: faces are the subject here), an
    investigator's key and the app."""
    d = tmp_path_factory.mktemp("search")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EVIDENCE_DATA_DIR", str(d / "data"))
        mp.setenv("EVIDENCE_PLATES", "false")
        mp.delenv("EVIDENCE_DATABASE_URL", raising=False)
        mp.delenv("EVIDENCE_REDIS_URL", raising=False)
        app = create_app(Settings())
        rt = app.state.runtime
        rt.faces = face_models
        # A watchlist holding Tom Ridge only: none of the faces here is a watchlist candidate.
        enrol(rt, folder_enrolments(build_watchlist(d / "wl", {"Tom_Ridge": [1, 2]})), ADMIN)
        meta = {"location": "+51.5072-000.1276/"}
        for i, (name, people) in enumerate(PEOPLE.items()):
            clip = render_clip(d / name, people, 6.0, size_wh=(W, H), seed=40 + i, metadata=meta if i == 0 else None)
            analyse_evidence(rt, ingest_clip(rt, clip, f"INC-{name[:-4].upper()}", ADMIN))
        key = create_key(rt, "DC 4411 Jones", "investigator", ADMIN)[1]
        yield TestClient(app), {"Authorization": f"Bearer {key}"}, rt, Cli(face_models)


def _tracks(rt):
    with rt.sessions() as s:
        rows = s.execute(select(FaceTrackRow, Evidence).join(Evidence)).all()
        return {row.id: (ev.original_name, _who(ev.original_name, row), ev.incident_id) for row, ev in rows}


def test_a_face_photo_finds_the_person_in_both_clips_ranked_above_strangers(footage):
    client, inv, rt, cli = footage
    tracks = _tracks(rt)
    assert {who for _, who, _ in tracks.values()} >= {"Hugo_Chavez", "Lleyton_Hewitt", "Ricardo_Lagos"}
    with PROBE.open("rb") as f:
        res = client.post("/search/faces", headers=inv, files={"photo": ("chavez.jpg", f, "image/jpeg")},
                          data={"reason": "op NIGHTJAR: who else was there"})
    assert res.status_code == 200, res.json()
    found = res.json()["results"]
    people = [tracks[r["track_id"]][1] for r in found]
    chavez = {tracks[r["track_id"]][0] for r in found if tracks[r["track_id"]][1] == "Hugo_Chavez"}
    assert chavez == {"park.mp4", "bus.mp4"}, found
    first_stranger = next((i for i, p in enumerate(people) if p != "Hugo_Chavez"), len(people))
    assert all(p == "Hugo_Chavez" for p in people[:first_stranger]) and first_stranger >= 2, people
    assert [r["rank"] for r in found] == list(range(1, len(found) + 1))
    assert found == sorted(found, key=lambda r: r["distance"])
    top = found[0]
    assert top["distance"] < 0.6 and 0.0 <= top["t_s"] <= 6.0 and top["crop_url"] == f"/face-tracks/{top['track_id']}/crop"
    crop = client.get(top["crop_url"], headers=inv)
    assert crop.status_code == 200 and cv2.imdecode(np.frombuffer(crop.content, np.uint8), cv2.IMREAD_COLOR) is not None
    with rt.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "search.faces")).one()
    assert entry.actor == "DC 4411 Jones" and entry.reason == "op NIGHTJAR: who else was there"
    assert entry.detail["results"] == len(found) and len(entry.detail["probe_sha256"]) == 64
    # Filters: one incident; a place where only the park clip was filmed.
    park_incident = next(inc for name, _, inc in tracks.values() if name == "park.mp4")
    with PROBE.open("rb") as f:
        only = client.post("/search/faces", headers=inv, files={"photo": ("chavez.jpg", f, "image/jpeg")},
                           data={"reason": "op NIGHTJAR", "incident": str(park_incident)}).json()["results"]
    assert {tracks[r["track_id"]][0] for r in only} == {"park.mp4"}
    res = cli("search", "face", PROBE, "--reason", "op NIGHTJAR", "--box", "51.4,-0.2,51.6,0.0", "--json")
    assert res.exit_code == 0, res.output
    assert {tracks[r["track_id"]][0] for r in json.loads(res.stdout)["results"]} == {"park.mp4"}


def test_a_search_without_a_reason_or_a_face_is_refused(footage, tmp_path):
    client, inv, rt, cli = footage
    with PROBE.open("rb") as f:
        res = client.post("/search/faces", headers=inv, files={"photo": ("p.jpg", f, "image/jpeg")})
    assert res.status_code == 422 and res.json()["code"] == "invalid_request"
    with PROBE.open("rb") as f:
        res = client.post("/search/faces", headers=inv, files={"photo": ("p.jpg", f, "image/jpeg")},
                          data={"reason": "   "})
    assert res.status_code == 422 and "reason" in res.json()["message"]
    blank = tmp_path / "wall.jpg"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    with blank.open("rb") as f:
        res = client.post("/search/faces", headers=inv, files={"photo": ("wall.jpg", f, "image/jpeg")},
                          data={"reason": "op NIGHTJAR"})
    assert res.status_code == 422 and "no face" in res.json()["message"]
    assert cli("search", "face", PROBE).exit_code == 2  # --reason is required
    with rt.sessions() as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.action == "search.faces",
                                                      AuditEntry.reason == "   ")).first()


def test_an_unknown_person_in_two_clips_is_one_group(footage):
    client, inv, rt, cli = footage
    tracks = _tracks(rt)
    park = next(inc for name, _, inc in tracks.values() if name == "park.mp4")
    res = client.get(f"/incidents/{park}/people", headers=inv)
    assert res.status_code == 200, res.json()
    people = res.json()["people"]
    groups = [{tracks[a["track_id"]][1] for a in p["appearances"]} for p in people]
    assert all(len(g) == 1 for g in groups), groups  # nobody grouped with someone else
    hewitt = next(p for p in people if {tracks[a["track_id"]][1] for a in p["appearances"]} == {"Lleyton_Hewitt"})
    # In the other incident too: the bus clip's Hewitt, and no one else.
    assert {(tracks[a["track_id"]][0], tracks[a["track_id"]][1]) for a in hewitt["elsewhere"]} == \
        {("bus.mp4", "Lleyton_Hewitt")}
    chavez = next(p for p in people if {tracks[a["track_id"]][1] for a in p["appearances"]} == {"Hugo_Chavez"})
    assert {tracks[a["track_id"]][1] for a in chavez["elsewhere"]} == {"Hugo_Chavez"}
    # Across both clips of one incident: one group, two clips.
    with rt.sessions.begin() as s:
        bus = s.scalar(select(Evidence).where(Evidence.original_name == "bus.mp4"))
        bus.incident_id = park
    try:
        people = client.get(f"/incidents/{park}/people", headers=inv).json()["people"]
        hewitt = [p for p in people if any(tracks[a["track_id"]][1] == "Lleyton_Hewitt" for a in p["appearances"])]
        assert len(hewitt) == 1 and hewitt[0]["clips"] == 2, (hewitt, _explain(rt, tracks))
        assert {tracks[a["track_id"]][1] for a in hewitt[0]["appearances"]} == {"Lleyton_Hewitt"}
    finally:
        with rt.sessions.begin() as s:
            s.get(Evidence, bus.id).incident_id = next(inc for n, _, inc in tracks.values() if n == "bus.mp4")
    res = cli("people", str(park))
    assert res.exit_code == 0 and "unknown-1" in res.stdout


def test_the_index_is_rebuilt_on_demand_and_kept_in_step(footage):
    client, inv, rt, cli = footage
    res = cli("index", "rebuild")
    assert res.exit_code == 0, res.output
    with rt.sessions() as s:
        n = s.query(FaceTrackRow).count()
    assert f"indexed {n} face tracks" in res.stdout
    assert (rt.settings.data_dir / "index" / "faces-dlib-resnet-v1.faiss").is_file()


def test_an_evidence_package_verifies_and_fails_when_tampered_with(footage, tmp_path):
    client, inv, rt, cli = footage
    tracks = _tracks(rt)
    park = next(inc for name, _, inc in tracks.values() if name == "park.mp4")
    out = tmp_path / "INC-PARK.zip"
    assert cli("export", "INC-PARK", "--out", out).exit_code == 2  # --reason is required
    res = cli("export", "INC-PARK", "--out", out, "--reason", "CPS disclosure request 7731")
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        files = json.loads(zf.read("files.json"))
        prov = json.loads(zf.read("provenance.json"))
        audit = json.loads(zf.read("audit.json"))
        html = zf.read("reports/report.html").decode()
        original = next(f for f in files if f["role"] == "original")
        data = zf.read(original["path"])
    with rt.sessions() as s:
        ev = s.scalar(select(Evidence).where(Evidence.incident_id == park))
    assert original["sha256"] == ev.sha256 and data == rt.store.absolute(ev.store_path).read_bytes()
    assert {"MANIFEST.sha256", "reports/report.json", "reports/report.html", "provenance.json", "audit.json"} <= names
    assert any(f["role"] == "working_copy" and f["parent_sha256"] == ev.sha256 for f in files)
    assert {m["name"] for m in prov["models"]} >= {"dlib-resnet-v1", "fast-plate-ocr-cct-xs-v2"}
    assert all(m["sha256"] for m in prov["models"] if m["file"]) and "match_fpir" in prov["settings"]
    assert any(a["action"] == "evidence.ingest" for a in audit) and "park.mp4" in html
    ok = cli("verify", out)
    assert ok.exit_code == 0 and "intact" in ok.stdout, ok.output
    # Change one byte of the original inside the package, keeping everything else.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(tampered, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == original["path"]:
                body = body[:1000] + bytes([body[1000] ^ 1]) + body[1001:]
            dst.writestr(info, body)
    bad = cli("verify", tampered)
    assert bad.exit_code == 1 and original["path"] in bad.output and "NOT intact" in bad.output
    # A file slipped in, or one taken out, is caught too.
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("originals/extra.mp4", b"not evidence")
    assert cli("verify", out).exit_code == 1
    with rt.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "incident.export")).one()
    assert entry.reason == "CPS disclosure request 7731" and entry.detail["manifest_sha256"] in res.stdout


def test_a_redacted_export_blurs_faces_but_the_confirmed_subjects(footage, tmp_path, face_models):
    client, inv, rt, cli = footage
    tracks = _tracks(rt)
    bus = next(inc for name, _, inc in tracks.values() if name == "bus.mp4")
    # Enrol Chavez, re-run the bus clip's analysis, and confirm his candidate.
    enrol(rt, folder_enrolments(build_watchlist(tmp_path / "wl", {"Hugo_Chavez": [1, 2, 3]})), ADMIN)
    with rt.sessions() as s:
        ev_id = s.scalar(select(Evidence.id).where(Evidence.incident_id == bus))
    analyse_evidence(rt, ev_id)  # done evidence is analysed afresh
    with rt.sessions() as s:
        cand = s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == ev_id)).one()
    review_candidate(rt, cand.id, "confirmed", Actor("PS 12 Patel", "investigator"), "his face, his coat")
    res = client.post(f"/incidents/{bus}/export", headers=inv, json={"reason": "disclosure to defence", "redact": True})
    assert res.status_code == 200, res.text
    pkg = tmp_path / "bus.zip"
    pkg.write_bytes(res.content)
    assert cli("verify", pkg).exit_code == 0
    with zipfile.ZipFile(pkg) as zf:
        files = json.loads(zf.read("files.json"))
        red = next(f for f in files if f["role"] == "redacted_copy")
        (tmp_path / "red.mp4").write_bytes(zf.read(red["path"]))
        made = [d for e in json.loads(zf.read("provenance.json"))["evidence"] for d in e["derivatives"]]
    assert any(d["kind"] == "redacted_copy" and d["sha256"] == red["sha256"] and d["made_by"]["faces"] for d in made)
    with rt.sessions() as s:
        working = s.scalar(select(Derivative).where(Derivative.evidence_id == ev_id, Derivative.kind == "working_copy"))
        d = s.get(Derivative, red["derivative_id"])
    assert d.kind == "redacted_copy" and d.parent_sha256 == working.sha256 == red["parent_sha256"]
    assert d.made_by["faces"]["visible_confirmed_subjects"][0]["subject"] == "Hugo_Chavez"
    # In the redacted copy the detector finds Chavez (left) at 1.5 s and nobody at 4.5 s (Hewitt,
    # blurred); in the working copy it finds both.
    det = face_models.reference_detector

    def faces_at(path: Path, t: float) -> list[float]:
        frame = frame_at(path, t)
        return [(b[0] + b[2]) / 2 / frame.shape[1] for b, _ in det.detect(frame)]

    assert faces_at(rt.store.absolute(working.store_path), 4.5) and not faces_at(tmp_path / "red.mp4", 4.5)
    assert any(x < 0.45 for x in faces_at(tmp_path / "red.mp4", 1.5))
    assert not any(x > 0.55 for x in faces_at(tmp_path / "red.mp4", 1.5))  # Lagos, a stranger: blurred
