"""The chain on both databases (embedded SQLite and PostgreSQL on loopback): ingest, analyse,
a named user's review, and the audit hash chain."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from evidence.audit import Actor
from evidence.db.tables import AuditEntry, CandidateRow, Evidence
from evidence.work import analyse_evidence, ingest_clip
from evidence.review import review_candidate
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.watchlists import enrol, folder_enrolments
from evidence.errors import Conflict, InvalidRequest

ADMIN = Actor("admin-1", "admin")


@pytest.fixture
def processed(analysed):
    """The street clip analysed with the watchlist (a copy of the session's, on both databases)."""
    return analysed


def test_candidates_are_pending_until_a_named_user_decides(processed):
    rt, eid = processed
    with rt.sessions() as s:
        cands = list(s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == eid)))
        assert s.get(Evidence, eid).state == "done"
    assert cands and all(c.review_state == "pending" for c in cands)
    done = review_candidate(rt, cands[0].id, "confirmed", Actor("PC 1234 Smith", "control_room"), "face matches")
    assert (done.review_state, done.reviewed_by) == ("confirmed", "PC 1234 Smith")
    with pytest.raises(Conflict, match="already confirmed"):
        review_candidate(rt, cands[0].id, "rejected", Actor("PC 99", "control_room"), "second look")
    with pytest.raises(InvalidRequest, match="needs a reason"):
        review_candidate(rt, cands[-1].id, "rejected", Actor("PC 99", "control_room"), " ")


def test_rerun_keeps_reviews_and_does_not_raise_a_rejected_subject_again(processed):
    rt, eid = processed
    with rt.sessions() as s:
        first = s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == eid).order_by(CandidateRow.id)).first()
    review_candidate(rt, first.id, "rejected", Actor("PC 7", "control_room"), "different person")
    analyse_evidence(rt, eid)
    with rt.sessions() as s:
        rows = list(s.scalars(select(CandidateRow).where(CandidateRow.subject_id == first.subject_id,
                                                         CandidateRow.evidence_id == eid)))
    assert [(r.id, r.review_state) for r in rows] == [(first.id, "rejected")]


def test_audit_chain_verifies_and_detects_an_edited_row(processed, cli_for):
    rt, _ = processed
    res = cli_for(rt, "audit", "verify")
    assert res.exit_code == 0 and "audit log intact" in res.stdout
    with rt.sessions.begin() as s:
        victim = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[1]
        s.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE id = :id"), {"id": victim.id})
    res = cli_for(rt, "audit", "verify")
    assert res.exit_code == 1 and f"entry id {victim.id} (entry 2 of the chain) was altered" in res.stderr


@pytest.fixture
def cli_for():
    from click.testing import CliRunner

    from cli.main import main

    def run(rt, *args):
        return CliRunner().invoke(main, list(args), obj=rt, catch_exceptions=False)

    return run


def test_a_run_whose_lease_is_taken_over_stops_writing(database_url, tmp_path, face_models, clips, watchlist_dir):
    """Another runner takes the work item mid-run (this one stalled past its lease): this run's next
    write is refused and it never marks the evidence done."""
    from datetime import timedelta

    from sqlalchemy import update

    from evidence.db.tables import FaceTrackRow, WorkItem, utcnow
    from evidence.work import LeaseHeld

    rt = Runtime(Settings(data_dir=tmp_path / "data", database_url=database_url))
    rt.faces = face_models
    enrol(rt, folder_enrolments(watchlist_dir), ADMIN)
    eid = ingest_clip(rt, clips["street"], "INC-L", ADMIN)

    at_steal = []

    def steal(_candidate):
        with rt.sessions.begin() as s:
            at_steal.append(len(s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == eid)).all()))
            s.execute(update(WorkItem).where(WorkItem.evidence_id == eid, WorkItem.kind == "segment")
                      .values(lease_owner="thief", lease_expires_at=utcnow() + timedelta(seconds=60)))

    with pytest.raises(LeaseHeld):
        analyse_evidence(rt, eid, on_candidate=steal)
    with rt.sessions() as s:
        ev = s.get(Evidence, eid)
        item = s.scalar(select(WorkItem).where(WorkItem.evidence_id == eid, WorkItem.kind == "segment"))
        n_tracks = len(s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == eid)).all())
    assert (ev.state, item.state, item.lease_owner) == ("analysing", "running", "thief")
    assert n_tracks == at_steal[0] >= 1  # the writes before the take-over; none after it
    rt.engine.dispose()
