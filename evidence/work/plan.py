"""The *ingest* step: the stored original checked against its intake hash, its key frames found
(once: the quick pass is handed them), and its work planned — the keyframe quick pass for long
clips, a segment for each stretch cut at key frames (faces and plates from one decode), the working
copy.
A plan already made is kept (a crashed ingest resumes); a re-plan clears unreviewed results."""

from __future__ import annotations

from sqlalchemy import delete, select

from evidence.audit import Actor, append_audit
from evidence.db.tables import Evidence, WorkItem
from evidence.eventkinds import EventKind
from evidence.events import evidence_event
from evidence.filestore import sha256_of
from evidence.mediaio import KEYFRAMES, keyframe_times
from evidence.runtime import Runtime
from evidence.states import CLOSED, EvidenceState, WorkKind, WorkState
from evidence.work.failure import fail_evidence
from evidence.work.lease import Lease, LeaseHeld, release
from evidence.work.plates import clear_sightings
from evidence.work.results import clear_unreviewed
from evidence.errors import EvidenceError, InvalidMedia, NotFound, StoreUnavailable
from pipeline.segments import plan_segments
from pipeline.types import MediaInfo

__all__ = ["KIND_ORDER", "prepare_evidence", "work_order"]

KIND_ORDER = {WorkKind.QUICK: 0, WorkKind.SEGMENT: 1, WorkKind.PLATES: 2, WorkKind.TRANSCODE: 3}


def work_order(item: WorkItem) -> tuple[int, int, int]:
    """The order work items are done (in-process) and queued (workers): the quick pass, then each
    stretch of the clip for faces and plates together (a hotlisted plate in the first minute must
    not wait for faces in the last), the working copy last."""
    phase = 0 if item.kind == WorkKind.QUICK else 2 if item.kind == WorkKind.TRANSCODE else 1
    return phase, item.index, KIND_ORDER.get(item.kind, 9)  # type: ignore[call-overload]


def prepare_evidence(rt: Runtime, evidence_id: int, restart: bool = False, fail_on_error: bool = True,
                     hashed_at_intake: bool = False) -> list[int]:
    """Check, index and plan; returns the ids of the work items still to do, in order. ``restart``
    (or evidence already ``done``/``failed``) plans afresh. ``hashed_at_intake``: the original was
    stored (and hashed) by this very run, so it is not read a second time. Bad media ends the
    evidence ``failed``; so does any other error unless ``fail_on_error`` is False (a job that will
    be retried), which only lets go of the evidence."""
    with rt.sessions() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is None:
            raise NotFound(f"evidence {evidence_id} not found")
    rt.store.absolute(ev.store_path)  # into the cache (an S3 store) before the lease: a long download
    lease = Lease(rt.sessions, Evidence, evidence_id, rt.settings.lease_s)
    lease.renew()
    try:
        with rt.sessions.begin() as s:
            ev = s.get(Evidence, evidence_id)
            assert ev is not None
            planned = s.scalar(select(WorkItem.id).where(WorkItem.evidence_id == evidence_id).limit(1)) is not None
            replan = restart or not planned or ev.state in CLOSED
            ev.state, ev.failure_reason = EvidenceState.INGESTING, None
            if replan:
                ev.progress, ev.finished_at = 0.0, None
        if replan:
            _plan(rt, ev, lease, hashed_at_intake)
        with rt.sessions.begin() as s:
            lease.fence(s)
            ev = s.get(Evidence, evidence_id)
            assert ev is not None
            ev.state = EvidenceState.ANALYSING
            release(ev)
            if replan:
                evidence_event(s, evidence_id, EventKind.EVIDENCE_ANALYSING, progress=0.0)
            todo = s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id,
                                                    WorkItem.state != WorkState.DONE))
            return [i.id for i in sorted(todo, key=work_order)]
    except LeaseHeld:
        raise
    except EvidenceError as exc:
        if isinstance(exc, StoreUnavailable) and not fail_on_error:  # the store did not answer: RQ retries
            lease.let_go()
        else:
            fail_evidence(rt, evidence_id, exc.message)
        raise
    except Exception as exc:
        if fail_on_error:
            fail_evidence(rt, evidence_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            lease.let_go()
        raise


def _plan(rt: Runtime, ev: Evidence, lease: Lease, hashed_at_intake: bool) -> None:
    path = rt.store.absolute(ev.store_path)
    if not path.is_file():
        raise InvalidMedia(f"{ev.original_name}: the stored original {ev.store_path} is missing")
    if not hashed_at_intake:
        if sha256_of(path) != ev.sha256:
            raise InvalidMedia(f"{ev.original_name}: the stored original no longer matches its SHA-256 {ev.sha256}")
        lease.renew()  # hashing gigabytes can take a while: keep the evidence
    info = MediaInfo.from_record(ev.media)
    # Listed by the ingest from the same bytes (the SHA-256 was checked); evidence ingested before
    # they were kept has them listed again.
    kept = (ev.media or {}).get(KEYFRAMES)
    keyframes = [float(k) for k in kept] if isinstance(kept, list) and kept else keyframe_times(path, ev.original_name)
    segments = plan_segments(keyframes, info.duration_s, rt.settings.segment_s)
    with rt.sessions.begin() as s:
        lease.fence(s)
        s.execute(delete(WorkItem).where(WorkItem.evidence_id == ev.id))
        clear_unreviewed(s, ev.id)
        clear_sightings(s, ev.id)
        whole = {"start_s": 0.0, "end_s": info.duration_s}
        if info.duration_s >= rt.settings.quick_pass_min_s:
            s.add(WorkItem(evidence_id=ev.id, kind=WorkKind.QUICK, index=0, **whole, result={},
                           plan={KEYFRAMES: [round(t, 4) for t in keyframes]}))
        for seg in segments:  # faces and plates from one decode of the stretch
            s.add(WorkItem(evidence_id=ev.id, kind=WorkKind.SEGMENT, index=seg.index, start_s=seg.start_s,
                           end_s=seg.end_s, result={}, plan={"plates": rt.analysis.plates}))
        if rt.settings.working_copy:
            s.add(WorkItem(evidence_id=ev.id, kind=WorkKind.TRANSCODE, index=0, **whole, result={}, plan={}))
        append_audit(s, Actor("pipeline", "system"), "evidence.planned", f"evidence:{ev.id}",
                     detail={"segments": [[g.start_s, g.end_s] for g in segments],
                             "sha256_checked": "at intake, by this run" if hashed_at_intake else True})
