"""A member of the public holding an upload link: they send what the link takes and are told
nothing of the incident. Forged provenance, over-long file names, racing pieces of one upload,
uploads started and abandoned to fill the disk. Also tried as the public: the witness page in a
browser (tests/test_browser.py), a photo renamed .mp4 (tests/test_pages.py), a reference that
counts the force's videos (test_provenance…), the status page (tests/test_notify.py)."""

from __future__ import annotations

import re
import zipfile
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.main import create_app
from evidence.db.tables import Evidence
from evidence.keys import create_key
from evidence.settings import Settings
from tests.attackers import ADMIN


def test_provenance_is_set_by_the_server_only(api, clips):
    client, rt, keys, incident = api
    link = client.post(f"/incidents/{incident}/upload-links", json={}, headers=keys["control_room"]).json()
    clip = clips["empty"].read_bytes()
    forged = client.post(link["url"], files={"file": ("v.mp4", clip, "video/mp4")},
                         data={"caption": "fireworks", "by": "DCI Somebody", "role": "admin", "via": "custody"})
    assert forged.status_code == 422 and "unknown form field" in forged.json()["message"]
    ok = client.post(link["url"], files={"file": ("v.mp4", clip, "video/mp4")},
                     data={"caption": "fireworks", "contact": "07700 900123"})
    assert ok.status_code == 201, ok.json()
    with rt.sessions() as s:
        ev = s.scalars(select(Evidence)).one()
    assert ev.submitted == {"caption": "fireworks", "contact": "07700 900123", "by": f"public:link:{link['id']}",
                            "role": "public", "via": f"upload link {link['id']}"}
    # Issue 29 (11): the sender's reference says nothing of how many videos the force holds.
    page = client.get(ok.json()["status_url"]).text
    ref = re.search(r"WV-[0-9A-Z]+", page).group(0)
    assert ref != f"WV-{ev.id}" and len(ref) == 11, ref


def test_a_300_character_file_name_still_gives_an_extractable_package(env, clips, tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_WORKING_COPY", "false")
    monkeypatch.setenv("EVIDENCE_PLATES", "false")
    app = create_app(Settings())
    rt = app.state.runtime
    client = TestClient(app)
    up = {"Authorization": f"Bearer {create_key(rt, 'PC 1', 'uploader', ADMIN)[1]}"}
    inv = {"Authorization": f"Bearer {create_key(rt, 'DC 2', 'investigator', ADMIN)[1]}"}
    cr = {"Authorization": f"Bearer {create_key(rt, 'desk', 'control_room', ADMIN)[1]}"}
    incident = client.post("/incidents", json={"reference": "INC-LONG"}, headers=cr).json()["id"]
    name = "VID_" + "x" * 296 + ".mp4"
    res = client.post(f"/incidents/{incident}/evidence", headers=up,
                      files={"file": (name, clips["empty"].read_bytes(), "video/mp4")})
    assert res.status_code == 201 and len(res.json()["name"]) <= 120 and res.json()["name"].endswith(".mp4")
    package = client.post(f"/incidents/{incident}/export", headers=inv, json={"reason": "CPS file"})
    assert package.status_code == 200, package.text
    (tmp_path / "p.zip").write_bytes(package.content)
    with zipfile.ZipFile(tmp_path / "p.zip") as zf:
        zf.extractall(tmp_path / "out")  # a name over 255 bytes cannot be extracted
        assert all(len(Path(n).name) <= 255 for n in zf.namelist())


def test_pieces_of_one_upload_sent_at_once_keep_only_the_bytes_that_were_accepted(api):
    """Issue 29 (6): six PATCHes at offset 0 with different bodies all passed the offset check and
    all wrote; the one answered 204 was not always the one kept. Now one writes (204) and the
    others are told another piece is arriving (409): what is kept is the accepted body."""
    import threading

    client, rt, keys, incident = api
    token = client.post(f"/incidents/{incident}/upload-links", json={}, headers=keys["control_room"]).json()["token"]
    tus = {"Tus-Resumable": "1.0.0"}
    made = client.post(f"/public/tus/{token}", headers={**tus, "Upload-Length": "2000"})
    upload = made.headers["location"]
    bodies = [bytes([0x80 + i]) * 1000 for i in range(6)]  # not text: a text file is refused at its first bytes
    answers: dict[int, int] = {}
    start = threading.Barrier(len(bodies))

    def send(i: int) -> None:
        start.wait()
        answers[i] = client.patch(upload, content=bodies[i], headers={
            **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    accepted = [i for i, code in answers.items() if code == 204]
    assert len(accepted) == 1 and sorted(answers.values()) == [204] + [409] * 5, sorted(answers.items())
    kept = (rt.store.root / "tmp" / f"tus-{upload.rsplit('/', 1)[1]}").read_bytes()[:1000]
    assert kept == bodies[accepted[0]]
    assert client.head(upload, headers=tus).headers["upload-offset"] == "1000"


def test_unfinished_uploads_count_against_their_link_and_address_and_are_removed(api, monkeypatch):
    """Issue 29 (1): 15 × (create 10 MiB, send 8 MiB, stop) on a one-use link left 120 MiB that
    stayed after the link expired. Now an unfinished upload counts against its link (and its
    address) when it is created; one idle too long, or whose link has ended, is removed by the
    sweep (its bytes deleted, the removal audited) and the disk is back where it started."""
    from evidence.db.tables import AuditEntry
    from evidence.db.upload_tables import ResumableUpload, UploadLink
    from evidence.uploads import expire_uploads
    from evidence.utc import utcnow

    client, rt, keys, incident = api
    tus = {"Tus-Resumable": "1.0.0"}
    tmp = rt.store.root / "tmp"

    def link(uses: int) -> str:
        return client.post(f"/incidents/{incident}/upload-links", json={"max_uploads": uses},
                           headers=keys["control_room"]).json()["token"]

    def start(token: str, sent: int = 1 << 20) -> tuple[int, str]:
        made = client.post(f"/public/tus/{token}", headers={**tus, "Upload-Length": str(10 << 20)})
        if made.status_code != 201:
            return made.status_code, made.json()["message"]
        client.patch(made.headers["location"], content=b"\x80" * sent,
                     headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
        return 201, made.headers["location"]

    one = link(1)
    assert start(one)[0] == 201
    code, why = start(one)  # the second of a one-use link, while the first is unfinished
    assert code == 410 and "being sent" in why, why
    one_shot = client.post(f"/public/uploads/{one}", files={"file": ("v.mp4", b"\x80" * 1000, "video/mp4")})
    assert one_shot.status_code == 410, one_shot.text  # nor by a one-shot upload: its place is held
    held = sum(p.stat().st_size for p in tmp.iterdir())
    assert held == 1 << 20

    monkeypatch.setattr(rt.settings, "uploads_in_progress_per_address", 3)
    others = [link(5) for _ in range(3)]
    assert [start(t)[0] for t in others[:2]] == [201, 201]
    code, why = start(others[2])  # this address has 3 unfinished uploads now
    assert code == 429 and "unfinished" in why, why

    with rt.sessions.begin() as s:  # one idle past the limit; one whose link has expired
        ids = list(s.scalars(select(ResumableUpload.id).order_by(ResumableUpload.created_at)))
        s.get(ResumableUpload, ids[0]).touched_at = utcnow() - timedelta(hours=rt.settings.upload_idle_hours, minutes=1)
        s.get(UploadLink, s.get(ResumableUpload, ids[1]).link_id).expires_at = utcnow() - timedelta(seconds=1)
    assert expire_uploads(rt) == 2
    assert start(one)[0] == 201  # the link's place is free again
    with rt.sessions.begin() as s:
        s.execute(update(ResumableUpload).values(touched_at=utcnow() - timedelta(days=2)))
    assert expire_uploads(rt) == 2  # the last of the address's and the link's new one
    assert not any(tmp.iterdir())  # the disk is back where it started
    with rt.sessions() as s:
        removed = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "upload.abandoned")))
    assert len(removed) == 4 and all(e.detail["bytes"] == 1 << 20 for e in removed)
    assert {e.reason for e in removed} == {"its link ended", f"no piece for {rt.settings.upload_idle_hours:g} hours"}
    gone = client.head(f"/public/tus/{one}/{ids[0]}", headers=tus)
    assert gone.status_code in (404, 410)
