"""The *finalise* step, once every work item is done: face tracks a segment cut split in two are
stitched back together (the tracker's own rule: the face where it was, or near it and the same
person) and matched again, plate sightings split by a cut are voted again as one, the quick pass's
pending candidates are superseded, the provenance is recorded and the evidence is ``done``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from evidence import SOFTWARE
from evidence.alerts import close_stale_alerts
from evidence.audit import Actor, append_audit
from evidence.eventkinds import EventKind
from evidence.faceindex import embedding_rows
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, WorkItem
from evidence.events import evidence_event
from evidence.runtime import Runtime
from evidence.states import UNREVIEWED, EvidenceState, ReviewState, WorkKind, WorkState
from evidence.utc import utcnow
from evidence.work.lease import Lease, release
from evidence.work.plates import stitch_sightings
from evidence.work.results import QUICK_SEGMENT, Watchlist, sync_candidates
from pipeline.segments import Segment, TrackEnds, stitch_tracks

__all__ = ["finalise_evidence", "provenance"]


def finalise_evidence(rt: Runtime, evidence_id: int) -> bool:
    """False (and nothing written) while work items are unfinished or the evidence failed; True
    once it is done. Another finaliser holding the evidence raises LeaseHeld."""
    lease = Lease(rt.sessions, Evidence, evidence_id, rt.settings.lease_s)
    lease.renew()
    with rt.sessions.begin() as s:
        lease.fence(s)
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        items = list(s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id)))
        if ev.state != EvidenceState.ANALYSING or any(i.state != WorkState.DONE for i in items):
            release(ev)
            return ev.state == EvidenceState.DONE
        watchlist = Watchlist.load(s, rt, evidence_id)
        stitched = _stitch(s, rt, evidence_id, items, watchlist)
        p = rt.analysis.plate
        plates_stitched = stitch_sightings(s, evidence_id, items, p.max_gap_s, p.max_key_distance, p.top_n)
        s.execute(update(CandidateRow).where(
            CandidateRow.evidence_id == evidence_id, CandidateRow.review_state == ReviewState.PENDING,
            CandidateRow.track_id.in_(select(FaceTrackRow.id).where(FaceTrackRow.evidence_id == evidence_id,
                                                                  FaceTrackRow.segment == QUICK_SEGMENT)))
            .values(review_state=ReviewState.SUPERSEDED))
        close_stale_alerts(s, evidence_id)
        n_tracks = s.scalar(select(func.count()).select_from(FaceTrackRow).where(
            FaceTrackRow.evidence_id == evidence_id, FaceTrackRow.segment >= 0))
        ev.provenance = provenance(rt, items, watchlist, stitched, plates_stitched)
        ev.state, ev.progress, ev.finished_at = EvidenceState.DONE, 1.0, utcnow()
        release(ev)
        append_audit(s, Actor("pipeline", "system"), "evidence.analysed", f"evidence:{evidence_id}",
                     detail={"tracks": n_tracks, "stitched": stitched})
        evidence_event(s, evidence_id, EventKind.EVIDENCE_DONE, progress=1.0, tracks=n_tracks)
    return True


def provenance(rt: Runtime, items: list[WorkItem], watchlist: Watchlist, stitched: int,
               plates_stitched: int) -> dict[str, Any]:
    """What made the evidence's results: software, models, parameters, the watchlist as matched,
    each segment's frames and decode warnings, and what the quick pass, the plate search and the
    working copy did."""
    segments = sorted((i for i in items if i.kind == WorkKind.SEGMENT), key=lambda i: i.index)
    quick = next((i for i in items if i.kind == WorkKind.QUICK), None)
    copy = next((i for i in items if i.kind == WorkKind.TRANSCODE), None)
    # (frames searched, result) of each plate search: the segments', or plate items of older plans
    plates = [(i.frames, i.result) for i in items if i.kind == WorkKind.PLATES] + \
        [(r["frames"], r) for i in segments if (r := i.result.get("plates"))]
    return {
        "software": SOFTWARE, "models": rt.faces.versions,
        "parameters": {**rt.analysis.as_record(), "segment_s": rt.settings.segment_s},
        "watchlist": watchlist.record(),
        "segments": [{"start_s": i.start_s, "end_s": i.end_s, "frames": i.frames,
                      "decode_warnings": i.result.get("decode_warnings", [])} for i in segments],
        "decode_warnings": [w for i in segments for w in i.result.get("decode_warnings", [])][:50],
        "frames_analysed": sum(i.frames for i in segments),
        "tracks_stitched_across_cuts": stitched,
        "quick_pass": quick.result if quick else None,
        "working_copy": copy.result if copy else None,
        "plates": {"models": rt.plates.versions, "frames_searched": sum(f for f, _ in plates),
                   "whole_frames_searched": sum(r.get("whole_frames", f) for f, r in plates),
                   "sightings": sum(r.get("sightings", 0) for _, r in plates) - plates_stitched,
                   "sightings_stitched_across_cuts": plates_stitched} if plates else None,
    }


def _ends(r: FaceTrackRow, dimension: int) -> TrackEnds:
    first = r.first_xyxy or r.best_xyxy
    last = r.last_xyxy or r.best_xyxy
    return TrackEnds(r.id, r.segment, r.first_t_s, r.last_t_s, (first[0], first[1], first[2], first[3]),
                     (last[0], last[1], last[2], last[3]), embedding_rows(r.embeddings, dimension))


def _stitch(s: Session, rt: Runtime, evidence_id: int, items: list[WorkItem], watchlist: Watchlist) -> int:
    segments = [Segment(i.index, i.start_s, i.end_s) for i in sorted(items, key=lambda i: i.index)
                if i.kind == WorkKind.SEGMENT]
    if len(segments) < 2:
        return 0
    embedder = rt.faces.profile
    # (A track another embedder made, kept for a person's decision on it, is not joined with these.)
    rows = {r.id: r for r in s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == evidence_id,
                                                                  FaceTrackRow.segment >= 0,
                                                                  FaceTrackRow.embedder == embedder.name))}
    joined = stitch_tracks([_ends(r, embedder.dimension) for r in rows.values()], segments, rt.analysis.face.tracker)
    cands: dict[int, dict[int, CandidateRow]] = {}
    for c in s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == evidence_id)):
        cands.setdefault(c.track_id, {})[c.subject_id] = c
    roots: set[int] = set()
    merged = 0
    for later_id in sorted(joined, key=lambda k: rows[k].first_t_s):
        later, root = rows[later_id], rows[joined[later_id]]
        mine, theirs = cands.get(later.id, {}), cands.setdefault(root.id, {})
        if any(c.review_state not in UNREVIEWED and theirs.get(sid) is not None
               and theirs[sid].review_state not in UNREVIEWED for sid, c in mine.items()):
            continue  # both pieces already carry a person's decision on the same subject: keep both
        for sid, c in mine.items():
            if c.review_state in UNREVIEWED:
                s.delete(c)
                continue
            if sid in theirs:  # the decision outranks the root's pending candidate
                s.delete(theirs[sid])
            c.track_id = root.id
            theirs[sid] = c
        s.flush()
        if later.last_t_s > root.last_t_s:
            root.last_t_s, root.last_xyxy = later.last_t_s, later.last_xyxy
        root.n_detections += later.n_detections
        root.embeddings = root.embeddings + later.embeddings
        if later.quality > root.quality:
            root.best_t_s, root.best_xyxy, root.quality, root.crop_id = (later.best_t_s, later.best_xyxy,
                                                                         later.quality, later.crop_id)
        root.closed = True
        s.delete(later)
        roots.add(root.id)
        merged += 1
    s.flush()
    for root_id in roots:
        root = rows[root_id]
        sync_candidates(s, rt, root, embedding_rows(root.embeddings, embedder.dimension), root.best_t_s, watchlist,
                        final=True)
    return merged
