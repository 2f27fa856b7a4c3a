"""Every read-then-write under real concurrency (threads, each with its own connection) on SQLite
and PostgreSQL: two reviewers on one candidate, the same incident opened at once, the same clip
uploaded twice at once, the last uses of an upload link, one work item wanted by many runners,
revocations, and the live feed read while many writers add events (it must miss none)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from api.uploads import create_link, use_link
from evidence.anpr import add_hotlist, remove_hotlist
from evidence.audit import Actor, verify_audit
from evidence.db.tables import (AuditEntry, CandidateRow, Evidence, FaceTrackRow, Incident, IncidentEvent, WorkItem,
                                WatchlistSubjectRow)
from evidence.db.upload_tables import UploadLink
from evidence.eventkinds import EventKind
from evidence.events import add_event, events_after
from evidence.keys import create_key, revoke_key
from evidence.work import Lease, get_or_create_incident, ingest_upload
from evidence.review import review_candidate
from evidence.runtime import Runtime
from evidence.settings import Settings
from pipeline.errors import EvidenceError

ADMIN = Actor("test-admin", "admin")
N = 12


@pytest.fixture
def rt(database_url, tmp_path):
    return Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url))


def _at_once(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """``fn(i)`` for i in range(n), all released together; each result or the error it raised."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait()
        try:
            return fn(i)
        except EvidenceError as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _candidate(rt: Runtime) -> int:
    with rt.sessions.begin() as s:
        inc = Incident(reference="INC-C")
        s.add(inc)
        s.flush()
        ev = Evidence(incident_id=inc.id, sha256="a" * 64, original_name="c.mp4", size_bytes=1, store_path="x",
                      state="done")
        subject = WatchlistSubjectRow(name="Subject A", watchlist_id=1)  # the default list
        s.add_all([ev, subject])
        s.flush()
        track = FaceTrackRow(embedder="dlib-resnet-v1", evidence_id=ev.id, track_index=0, first_t_s=0, last_t_s=1, best_t_s=0.5,
                             best_xyxy=[0, 0, 1, 1], n_detections=2, quality=1.0,
                             embeddings=np.zeros((1, 128), "<f4").tobytes())
        s.add(track)
        s.flush()
        c = CandidateRow(evidence_id=ev.id, track_id=track.id, subject_id=subject.id, rank=1, distance=0.4,
                         score=0.6, threshold=0.5, model_version="m", t_s=0.5)
        s.add(c)
        s.flush()
        return c.id


def test_two_reviewers_at_once_one_decision(rt):
    cid = _candidate(rt)
    out = _at_once(N, lambda i: review_candidate(rt, cid, "confirmed" if i % 2 else "rejected",
                                                 Actor(f"PC {i}", "control_room"), "looked at the crop"))
    decided = [o for o in out if not isinstance(o, EvidenceError)]
    assert len(decided) == 1 and all("already" in o.message for o in out if isinstance(o, EvidenceError))
    with rt.sessions() as s:
        c = s.get(CandidateRow, cid)
        assert (c.review_state, c.reviewed_by) == (decided[0].review_state, decided[0].reviewed_by)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.target == f"candidate:{cid}")) == 1


def test_the_same_incident_opened_at_once_is_one_incident(rt):
    def open_(i: int) -> int:
        with rt.sessions.begin() as s:
            return get_or_create_incident(s, "INC-SAME").id

    ids = _at_once(N, open_)
    assert len(set(ids)) == 1 and all(isinstance(i, int) for i in ids)


def test_an_incident_closed_by_many_at_once_is_closed_once_and_its_links_end(rt):
    """Issue 28: two operators closing the same incident: one closes it (its links end with it),
    the others are told who did; an upload link asked for at the same time is either made before
    the close (and ended by it) or refused — never a live link on a closed incident."""
    from evidence.incidents import close_incident
    from evidence.utc import utcnow

    with rt.sessions.begin() as s:
        incident = get_or_create_incident(s, "INC-CLOSE")
    create_link(rt, incident.id, 3600, 5, 1 << 20, ADMIN)

    def act(i: int) -> Any:
        if i % 3 == 0:
            return create_link(rt, incident.id, 3600, 5, 1 << 20, ADMIN)[0].id
        return close_incident(rt, incident.id, Actor(f"PC {i}", "control_room"), "nothing more expected")

    out = _at_once(N, act)
    closers = [i for i, o in enumerate(out) if i % 3 and not isinstance(o, EvidenceError)]
    assert len(closers) == 1, out
    assert all("already closed by" in o.message for i, o in enumerate(out) if i % 3 and isinstance(o, EvidenceError))
    assert all("is closed" in o.message for i, o in enumerate(out) if i % 3 == 0 and isinstance(o, EvidenceError))
    with rt.sessions() as s:
        assert s.get(Incident, incident.id).status == "closed"
        live = s.scalar(select(func.count(UploadLink.id)).where(UploadLink.incident_id == incident.id,
                                                                UploadLink.expires_at > utcnow()))
        assert live == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "incident.close")) == 1


def test_an_incident_given_to_two_people_at_once_goes_to_one(rt):
    from evidence.incidents import assign_incident
    from evidence.users import add_user

    for i in range(N):
        add_user(rt, f"DC {i}", "investigator", ADMIN)
    with rt.sessions.begin() as s:
        incident = get_or_create_incident(s, "INC-ASSIGN")
    out = _at_once(N, lambda i: assign_incident(rt, incident.id, ADMIN, f"DC {i}", was=""))
    won = [i for i, o in enumerate(out) if not isinstance(o, EvidenceError)]
    assert len(won) == 1 and all("meanwhile" in o.message for o in out if isinstance(o, EvidenceError))
    with rt.sessions() as s:
        assert s.get(Incident, incident.id).assigned_to == f"DC {won[0]}"


def test_an_export_started_many_times_at_once_is_made_once(rt):
    """A double click, a colleague: one package of an incident is made at a time (issue 28, 9)."""
    from evidence.db.export_tables import ExportJob
    from evidence.exportjobs import ExportRunning, start_export

    with rt.sessions.begin() as s:
        incident_id = get_or_create_incident(s, "INC-EXPORT").id  # no evidence: quick to make
    out = _at_once(N, lambda i: start_export(rt, incident_id, Actor(f"DC {i}", "investigator"), "CPS file", False, False))
    started = [o for o in out if isinstance(o, int)]
    refused = [o for o in out if not isinstance(o, int)]
    assert started and all(isinstance(o, ExportRunning) for o in refused), out
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # (an incident with nothing in it is packed in a moment)
        with rt.sessions() as s:
            if not s.scalar(select(func.count()).select_from(ExportJob).where(ExportJob.state == "running")):
                break
        time.sleep(0.1)
    with rt.sessions() as s:
        jobs = sorted(s.scalars(select(ExportJob)).all(), key=lambda j: j.created_at)
    assert sorted(j.id for j in jobs) == sorted(started) and all(j.state == "done" for j in jobs)
    for before, after in zip(jobs, jobs[1:], strict=False):  # never two at once: each began after the one before was made
        assert after.created_at >= before.finished_at, [(j.id, j.created_at, j.finished_at) for j in jobs]


def test_the_same_clip_uploaded_twice_at_once_is_one_evidence_item(rt, clips, tmp_path):
    copies = []
    for i in range(4):
        copies.append(tmp_path / f"copy{i}.mp4")
        copies[-1].write_bytes(clips["empty"].read_bytes())
    out = _at_once(4, lambda i: ingest_upload(rt, copies[i], "INC-DUP", Actor(f"witness {i}", "public")))
    assert sorted(d for _, d in out) == [False, True, True, True], out
    assert len({eid for eid, _ in out}) == 1
    with rt.sessions() as s:
        ev = s.scalars(select(Evidence)).one()
    assert rt.store.absolute(ev.store_path).is_file()


def test_the_last_uses_of_a_link_go_to_exactly_that_many_uploads(rt):
    with rt.sessions.begin() as s:
        s.add(Incident(reference="INC-L"))
    link, _ = create_link(rt, 1, 3600, 3, 1000, ADMIN)
    out = _at_once(N, lambda i: use_link(rt, link))
    assert sum(o is None for o in out) == 3


def test_one_work_item_one_runner(rt):
    with rt.sessions.begin() as s:
        ev = Evidence(sha256="b" * 64, original_name="c.mp4", size_bytes=1, store_path="x")
        s.add(ev)
        s.flush()
        item = WorkItem(evidence_id=ev.id, kind="segment", index=0, result={})
        s.add(item)
        s.flush()
        item_id = item.id

    def take(i: int) -> bool:
        with rt.sessions.begin() as s:
            return Lease(rt.sessions, WorkItem, item_id, 60).take(s)

    assert sum(_at_once(N, take)) == 1


def test_revocations_at_once_are_one_revocation(rt):
    key_id, _ = create_key(rt, "camera 9", "camera", ADMIN)
    _at_once(N, lambda i: revoke_key(rt, key_id, Actor(f"admin {i}", "admin")))
    entry = add_hotlist(rt, "AB12CDE", "wanted", "wanted", None, None, ADMIN)
    out = _at_once(N, lambda i: remove_hotlist(rt, entry.id, Actor(f"desk {i}", "control_room"), "found"))
    assert sum(o is None for o in out) == 1
    with rt.sessions() as s:
        actions = s.scalars(select(AuditEntry.action)).all()
        assert actions.count("key.revoke") == 1 and actions.count("hotlist.remove") == 1
        assert verify_audit(s).ok


def test_the_live_feed_misses_no_event_while_many_write(rt):
    """Writers hold their transaction open a little after adding an event (as a segment writing its
    tracks does): a reader following ids must still see every event, in id order, exactly once."""
    with rt.sessions.begin() as s:
        s.add(Incident(reference="INC-FEED"))
    incident = 1
    done = threading.Event()
    seen: list[int] = []

    def reader() -> None:
        last = 0
        while True:
            finished = done.is_set()
            with rt.sessions() as s:
                for e in events_after(s, incident, last):
                    seen.append(e.id)
                    last = e.id
            if finished:
                return

    def writer(i: int) -> None:
        for j in range(10):
            with rt.sessions.begin() as s:
                add_event(s, incident, EventKind.PUBLIC_UPDATE, {"text": f"update {j}", "by": f"writer {i}"})
                s.flush()
                time.sleep(0.002 * (i % 3))

    follow = threading.Thread(target=reader)
    follow.start()
    _at_once(8, writer)
    done.set()
    follow.join()
    with rt.sessions() as s:
        written = s.scalars(select(IncidentEvent.id).order_by(IncidentEvent.id)).all()
    assert len(written) == 80 and seen == list(written)
