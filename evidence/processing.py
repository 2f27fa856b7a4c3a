"""Ingest a clip and analyse it: the chain the CLI runs in-process and the workers run as jobs.

State machine of an evidence row: queued -> ingesting -> analysing -> done | failed (with reason).

- ``ingest_clip`` stores the original read-only under its SHA-256 and records it (``queued``).
- ``prepare_evidence`` (the *ingest* job, ``ingesting``) re-checks the stored bytes against their
  hash, indexes the key frames and plans the work items: the keyframe quick pass (long clips), the
  time segments cut at key frames, and the working copy.
- ``run_item`` does one item. Segments write each face track (and its candidates) in its own
  transaction as it opens and closes, so candidates appear while the clip is still being analysed.
- ``finalise_evidence`` (when every item is done) stitches tracks split by segment cuts, re-matches
  them, supersedes the quick pass's provisional candidates and marks the evidence ``done``.

Every row a runner writes is fenced by a lease (evidence row for ingest/finalise, work item for
the rest): a crashed runner's lease lapses and its work is redone from scratch by the next one,
after its unreviewed results are cleared, so a re-run cannot duplicate them. ``analyse_evidence``
runs the whole chain in this process."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from evidence import __version__
from evidence.audit import Actor, append_audit
from evidence.events import add_event, candidate_event, evidence_event
from evidence.filestore import clean_name
from evidence.derivatives import discard_unreferenced, ensure_stored, record_derivative
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, Incident, WorkItem, embedding_rows, utcnow
from evidence.images import encode_jpeg
from evidence.mediaio import DecodeReport, iter_frames, keyframe_times, probe_media
from evidence.platework import clear_sightings, find_sightings, save_sightings, stitch_sightings
from evidence.workingcopy import make_working_copy
from evidence.runtime import Runtime
from evidence.watchlists import load_subjects
from evidence.ordered import ordered_map
from pipeline.analysis import TrackEvent, analyse_faces, quick_faces
from pipeline.faces import detect_faces, detect_faces_near
from pipeline.errors import Conflict, EvidenceError, InvalidMedia, NotFound
from pipeline.segments import Segment, TrackEnds, plan_segments, stitch_tracks
from pipeline.tracking import TrackerParams
from pipeline.types import Box, FaceDetection, Frame, MediaInfo, WatchlistCandidate, WatchlistSubject
from pipeline.watchlist import match_embeddings, match_watchlist

__all__ = ["AnalysisSummary", "ItemDone", "LeaseHeld", "analyse_evidence", "fail_evidence", "finalise_evidence",
           "get_or_create_incident", "ingest_clip", "ingest_upload", "prepare_evidence", "run_item", "work_order"]


class LeaseHeld(Conflict):
    """Another runner holds (or took over) this evidence; this run stops without writing."""

    code = "lease_held"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _take(s: Session, model: type[Evidence] | type[WorkItem], row_id: int, owner: str, lease_s: float,
          **values: Any) -> bool:
    """Take or extend the lease on one row (and set ``values``); False if another runner holds it."""
    now = utcnow()
    free = or_(model.lease_owner.is_(None), model.lease_owner == owner, model.lease_expires_at < now)
    values.update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
    stmt = update(model).where(model.id == row_id, free).values(**values)
    # synchronize_session=False: SQLite hands back naive datetimes the ORM cannot compare in Python.
    return s.execute(stmt.execution_options(synchronize_session=False)).rowcount == 1


def _renew_lease(rt: Runtime, evidence_id: int, owner: str) -> None:
    """Take or extend the evidence lease (ingest and finalise hold it); LeaseHeld if another runner has it."""
    with rt.sessions.begin() as s:
        if not _take(s, Evidence, evidence_id, owner, rt.settings.lease_s):
            raise LeaseHeld(f"evidence {evidence_id} is being prepared or finalised by another worker")


def _release(s: Session, row: Evidence | WorkItem) -> None:
    row.lease_owner, row.lease_expires_at = None, None


def get_or_create_incident(s: Session, reference: str) -> Incident:
    incident = s.scalar(select(Incident).where(Incident.reference == reference))
    if incident is None:
        incident = Incident(reference=reference, title=reference)
        s.add(incident)
        s.flush()
    return incident


def ingest_clip(rt: Runtime, path: Path, incident_ref: str | None, actor: Actor, name: str | None = None,
                submitted: dict[str, Any] | None = None) -> int:
    """Probe (InvalidMedia before anything is stored), store the original read-only under its
    SHA-256, and record the evidence row. The same bytes on the same incident reuse the row
    (``ingest_upload`` says which). ``name`` is the sender's file name (default: the path's)."""
    return ingest_upload(rt, path, incident_ref, actor, name, submitted)[0]


def ingest_upload(rt: Runtime, path: Path, incident_ref: str | None, actor: Actor, name: str | None = None,
                  submitted: dict[str, Any] | None = None) -> tuple[int, bool]:
    """``ingest_clip`` returning (evidence id, True if these bytes were already on the incident)."""
    name = clean_name(name or path.name)
    info = probe_media(path, name)
    stored = rt.store.put_file(path, "originals")
    try:
        with rt.sessions.begin() as s:
            stored = ensure_stored(stored, lambda: rt.store.put_file(path, "originals"))
            incident = get_or_create_incident(s, incident_ref) if incident_ref else None
            incident_id = incident.id if incident else None
            ev = s.scalar(select(Evidence).where(Evidence.sha256 == stored.sha256,
                                                 Evidence.incident_id.is_(None) if incident_id is None
                                                 else Evidence.incident_id == incident_id))
            duplicate = ev is not None
            if ev is None:
                ev = Evidence(incident_id=incident_id, sha256=stored.sha256, original_name=name,
                              size_bytes=stored.size_bytes, store_path=rt.store.relative(stored.path),
                              media=dataclasses.asdict(info), state="queued",
                              submitted={**(submitted or {}), "by": actor.name, "role": actor.role})
                s.add(ev)
                s.flush()
                add_event(s, incident_id, "evidence.received",
                          {"evidence_id": ev.id, "name": name, "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                           "duration_s": info.duration_s, "by": actor.name, "role": actor.role})
            append_audit(s, actor, "evidence.ingest", f"evidence:{ev.id}",
                         detail={"sha256": stored.sha256, "name": name, "incident": incident_ref,
                                 "duplicate": duplicate})
            return ev.id, duplicate
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, [stored])
        raise


@dataclass(frozen=True)
class AnalysisSummary:
    evidence_id: int
    tracks: int
    frames: int
    wall_s: float
    first_candidate_s: float | None
    working_copy_s: float = 0.0  # part of wall_s: making the working copy after the analysis


@dataclass(frozen=True)
class ItemDone:
    """A finished work item; ``all_done``: it was the evidence's last one (finalise may run)."""

    item_id: int
    evidence_id: int
    kind: str
    frames: int
    all_done: bool


QUICK_SEGMENT = -1  # FaceTrackRow.segment of the keyframe quick pass
TRACK_INDEX_STRIDE = 100_000  # track_index = segment * stride + the tracker's own index
KIND_ORDER = {"quick": 0, "segment": 1, "plates": 2, "transcode": 3}


def work_order(item: WorkItem) -> tuple[int, int, int]:
    """The order work items are done (in-process) and queued (workers): the quick pass, then each
    stretch of the clip for faces and plates together (a hotlisted plate in the first minute must
    not wait for faces in the last), the working copy last."""
    phase = 0 if item.kind == "quick" else 2 if item.kind == "transcode" else 1
    return phase, item.index, KIND_ORDER.get(item.kind, 9)
ANALYSED_KINDS = ("segment", "plates")  # what the evidence's percentage counts
UNREVIEWED = ("pending", "superseded")


def _media(ev: Evidence) -> MediaInfo:
    m = dict(ev.media)
    m["size_wh"] = tuple(m["size_wh"])
    return MediaInfo(**m)


def _clear_unreviewed(s: Session, evidence_id: int, segment: int | None = None) -> None:
    """Drop results of an earlier, unfinished or repeated run (of one segment, or all); reviewed
    candidates (and their tracks) stay: a person's decision is never thrown away."""
    tracks = select(FaceTrackRow.id).where(FaceTrackRow.evidence_id == evidence_id)
    if segment is not None:
        tracks = tracks.where(FaceTrackRow.segment == segment)
    s.execute(delete(CandidateRow).where(CandidateRow.evidence_id == evidence_id,
                                         CandidateRow.review_state.in_(UNREVIEWED),
                                         CandidateRow.track_id.in_(tracks)))
    kept = select(CandidateRow.track_id).where(CandidateRow.evidence_id == evidence_id)
    s.execute(delete(FaceTrackRow).where(FaceTrackRow.id.in_(tracks), FaceTrackRow.id.not_in(kept)))


def _sync_candidates(s: Session, evidence_id: int, row: FaceTrackRow, matches: list[WatchlistCandidate],
                     model_version: str, final: bool) -> list[CandidateRow]:
    """Make the track's pending candidates those ``matches``; returns the new ones. Reviewed
    candidates are left as they are. With ``final`` (the track closed), pending candidates that more
    frames no longer support are withdrawn."""
    existing = {c.subject_id: c for c in s.scalars(select(CandidateRow).where(CandidateRow.track_id == row.id))}
    fresh = []
    for m in matches:
        c = existing.get(m.subject_id)
        if c is None:
            c = CandidateRow(evidence_id=evidence_id, track_id=row.id, subject_id=m.subject_id,
                             model_version=model_version, review_state="pending")
            s.add(c)
            fresh.append(c)
        elif c.review_state != "pending":
            continue
        c.rank, c.distance, c.score, c.threshold, c.t_s = m.rank, m.distance, m.score, m.threshold, m.t_s
    if final:
        keep = {m.subject_id for m in matches}
        for sid, c in existing.items():
            if c.review_state == "pending" and sid not in keep:
                s.delete(c)
    s.flush()
    for c in fresh:
        s.refresh(c, ["subject", "track"])
        candidate_event(s, c)
    return fresh


def _rejected(s: Session, track_id: int) -> frozenset[int]:
    return frozenset(s.scalars(select(CandidateRow.subject_id).where(CandidateRow.track_id == track_id,
                                                                     CandidateRow.review_state == "rejected")))


class _Recorder:
    """Writes each track event of one work item: the track row, its best crop as a derivative, its
    candidates, each in one transaction fenced by the item's lease."""

    def __init__(self, rt: Runtime, ev: Evidence, fence: Callable[[Session], None], segment: int,
                 subjects: list[WatchlistSubject], threshold: float,
                 on_candidate: Callable[[CandidateRow], None] | None) -> None:
        self.rt, self.ev, self.fence, self.segment = rt, ev, fence, segment
        self.subjects, self.threshold, self.on_candidate = subjects, threshold, on_candidate
        self.tracks = 0
        # What made every crop of this run: the same for all of them, so built once.
        self.made_by = {"software": f"evidence-pipeline {__version__}", "models": rt.faces.versions,
                        "parameters": rt.analysis.as_record(), "match_threshold_used": round(threshold, 4)}

    def track_index(self, local: int) -> int:
        return -1 - local if self.segment == QUICK_SEGMENT else self.segment * TRACK_INDEX_STRIDE + local

    def record(self, event: TrackEvent, exclude: frozenset[int] = frozenset()) -> None:
        track, rt = event.track, self.rt
        jpeg = encode_jpeg(track.best.crop)
        crop = rt.store.put_bytes(jpeg, "derivatives", ".jpg")
        try:
            with rt.sessions.begin() as s:
                self.fence(s)  # write only while this run still holds its work item
                crop = ensure_stored(crop, lambda: rt.store.put_bytes(jpeg, "derivatives", ".jpg"))
                row = self._save_track(s, event, crop.sha256, rt.store.relative(crop.path))
                matches = match_watchlist(track, self.subjects, self.threshold, rt.analysis.max_candidates,
                                          _rejected(s, row.id) | exclude)
                fresh = _sync_candidates(s, self.ev.id, row, matches, rt.faces.embedder_version,
                                         final=event.kind == "closed")
        except BaseException:
            discard_unreferenced(rt.sessions, rt.store, [crop])
            raise
        for c in fresh:
            if self.on_candidate:
                self.on_candidate(c)

    def _save_track(self, s: Session, event: TrackEvent, crop_sha: str, crop_path: str) -> FaceTrackRow:
        track = event.track
        best = track.best.detection
        deriv = record_derivative(s, self.ev.id, self.ev.sha256, "face_crop", crop_sha, crop_path,
                                  {**self.made_by, "t_s": best.t_s, "xyxy": list(best.xyxy),
                                   "crop_origin_xy": list(track.best.crop_origin_xy)})
        index = self.track_index(track.track_index)
        row = s.scalar(select(FaceTrackRow).where(FaceTrackRow.evidence_id == self.ev.id,
                                                  FaceTrackRow.track_index == index))
        if row is None:
            row = FaceTrackRow(evidence_id=self.ev.id, track_index=index, segment=self.segment)
            s.add(row)
            self.tracks += 1
        row.first_t_s, row.last_t_s, row.best_t_s = track.first_t_s, track.last_t_s, best.t_s
        row.best_xyxy, row.n_detections, row.quality = [round(v, 1) for v in best.xyxy], track.n_detections, track.quality
        row.first_xyxy, row.last_xyxy = [round(v, 1) for v in track.first_xyxy], [round(v, 1) for v in track.last_xyxy]
        row.closed = event.kind == "closed"
        row.embeddings = track.embeddings.astype("<f4").tobytes()
        row.crop_id = deriv.id
        s.flush()
        return row


def _counting(frames: Iterator[Frame], tick: Callable[[Frame], None]) -> Iterator[Frame]:
    for f in frames:
        tick(f)
        yield f


def fail_evidence(rt: Runtime, evidence_id: int, reason: str, item_id: int | None = None) -> None:
    """End the evidence ``failed`` with the reason; its unreviewed results are cleared."""
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is not None and ev.state != "done":  # a late failure report never undoes finished work
            _clear_unreviewed(s, evidence_id)
            ev.state, ev.failure_reason, ev.finished_at = "failed", reason, utcnow()
            evidence_event(s, evidence_id, "evidence.failed", reason=reason)
            _release(s, ev)
            item = s.get(WorkItem, item_id) if item_id is not None else None
            if item is not None:
                item.state, item.result = "failed", {"reason": reason}
                _release(s, item)
            append_audit(s, Actor("pipeline", "system"), "evidence.failed", f"evidence:{evidence_id}", reason=reason)


def _sha256_of(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --- ingest: check the stored bytes, plan the work ------------------------------------------------

def prepare_evidence(rt: Runtime, evidence_id: int, restart: bool = False, fail_on_error: bool = True) -> list[int]:
    """The *ingest* step: hash check, key frame index, work plan. Returns the ids of the work items
    still to do, in the order to do them. A plan already made is kept (a crashed ingest resumes);
    ``restart`` (or evidence already ``done``/``failed``) plans afresh and clears unreviewed results.
    Bad media ends the evidence ``failed``; so does any other error unless ``fail_on_error`` is
    False (a job that will be retried), which only lets go of the evidence."""
    owner = _owner()
    with rt.sessions() as s:
        if s.get(Evidence, evidence_id) is None:
            raise NotFound(f"evidence {evidence_id} not found")
    _renew_lease(rt, evidence_id, owner)
    try:
        with rt.sessions.begin() as s:
            ev = s.get(Evidence, evidence_id)
            assert ev is not None
            planned = s.scalar(select(WorkItem.id).where(WorkItem.evidence_id == evidence_id).limit(1)) is not None
            replan = restart or not planned or ev.state in ("done", "failed")
            ev.state, ev.failure_reason = "ingesting", None
            if replan:
                ev.progress, ev.finished_at = 0.0, None
        if replan:
            _plan(rt, ev, owner)
        with rt.sessions.begin() as s:
            ev = s.get(Evidence, evidence_id)
            assert ev is not None
            if ev.lease_owner != owner:
                raise LeaseHeld(f"evidence {evidence_id}: another worker took over the ingest")
            ev.state = "analysing"
            _release(s, ev)
            if replan:
                evidence_event(s, evidence_id, "evidence.analysing", progress=0.0)
            todo = s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id, WorkItem.state != "done"))
            return [i.id for i in sorted(todo, key=work_order)]
    except LeaseHeld:
        raise
    except EvidenceError as exc:
        fail_evidence(rt, evidence_id, exc.message)
        raise
    except Exception as exc:
        if fail_on_error:
            fail_evidence(rt, evidence_id, f"internal error: {type(exc).__name__}: {exc}")
        else:
            _let_go(rt, Evidence, evidence_id, owner)
        raise


def _let_go(rt: Runtime, model: type[Evidence] | type[WorkItem], row_id: int, owner: str) -> None:
    """Release a lease after a transient error, so that a retry can start at once."""
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if model is WorkItem:
        values["state"] = "queued"
    with rt.sessions.begin() as s:
        s.execute(update(model).where(model.id == row_id, model.lease_owner == owner).values(**values))


def _plan(rt: Runtime, ev: Evidence, owner: str) -> list[Segment]:
    path = rt.store.absolute(ev.store_path)
    if not path.is_file():
        raise InvalidMedia(f"{ev.original_name}: the stored original {ev.store_path} is missing")
    if _sha256_of(path) != ev.sha256:
        raise InvalidMedia(f"{ev.original_name}: the stored original no longer matches its SHA-256 {ev.sha256}")
    _renew_lease(rt, ev.id, owner)  # hashing gigabytes can take a while: keep the evidence
    info = _media(ev)
    segments = plan_segments(keyframe_times(path, ev.original_name), info.duration_s, rt.settings.segment_s)
    with rt.sessions.begin() as s:
        if s.scalar(select(Evidence.lease_owner).where(Evidence.id == ev.id).with_for_update()) != owner:
            raise LeaseHeld(f"evidence {ev.id}: another worker took over the ingest")
        s.execute(delete(WorkItem).where(WorkItem.evidence_id == ev.id))
        _clear_unreviewed(s, ev.id)
        clear_sightings(s, ev.id)
        if info.duration_s >= rt.settings.quick_pass_min_s:
            s.add(WorkItem(evidence_id=ev.id, kind="quick", index=0, start_s=0.0, end_s=info.duration_s, result={}))
        for seg in segments:
            s.add(WorkItem(evidence_id=ev.id, kind="segment", index=seg.index, start_s=seg.start_s, end_s=seg.end_s,
                           result={}))
        if rt.analysis.plates:
            for seg in segments:
                s.add(WorkItem(evidence_id=ev.id, kind="plates", index=seg.index, start_s=seg.start_s,
                               end_s=seg.end_s, result={}))
        if rt.settings.working_copy:
            s.add(WorkItem(evidence_id=ev.id, kind="transcode", index=0, start_s=0.0, end_s=info.duration_s,
                           result={}))
        append_audit(s, Actor("pipeline", "system"), "evidence.planned", f"evidence:{ev.id}",
                     detail={"segments": [[g.start_s, g.end_s] for g in segments], "sha256_checked": True})
    return segments


# --- work items -----------------------------------------------------------------------------------

def _fence_item(item_id: int, owner: str) -> Callable[[Session], None]:
    def fence(s: Session) -> None:
        holder = s.scalar(select(WorkItem.lease_owner).where(WorkItem.id == item_id).with_for_update())
        if holder != owner:
            raise LeaseHeld(f"work item {item_id}: another worker took over")

    return fence


def _renew_item(rt: Runtime, item: WorkItem, owner: str, progress: float) -> None:
    """Extend the item's lease, store its progress and the evidence's; LeaseHeld when another
    runner took the item or the evidence failed meanwhile (this run then stops)."""
    with rt.sessions.begin() as s:
        if not _take(s, WorkItem, item.id, owner, rt.settings.lease_s, progress=round(progress, 3)):
            raise LeaseHeld(f"work item {item.id}: another worker took over")
        ev = s.get(Evidence, item.evidence_id)
        if ev is None or ev.state == "failed":
            raise LeaseHeld(f"evidence {item.evidence_id} failed meanwhile: stopping")
        _store_evidence_progress(s, ev)


def _store_evidence_progress(s: Session, ev: Evidence) -> None:
    """The evidence's percentage: the share of its duration analysed (for faces, and for plates
    when they are searched)."""
    duration = max(float(ev.media.get("duration_s", 0.0)), 1e-6)
    done, kinds = 0.0, set()
    for seg in s.scalars(select(WorkItem).where(WorkItem.evidence_id == ev.id, WorkItem.kind.in_(ANALYSED_KINDS))):
        end = seg.end_s if seg.end_s is not None else duration
        done += max(0.0, end - seg.start_s) * (1.0 if seg.state == "done" else seg.progress)
        kinds.add(seg.kind)
    ev.progress = round(min(0.99, done / (duration * max(1, len(kinds)))), 3)


def run_item(
    rt: Runtime,
    item_id: int,
    on_progress: Callable[[float], None] | None = None,
    on_candidate: Callable[[CandidateRow], None] | None = None,
    fail_on_error: bool = True,
) -> ItemDone:
    """Do one work item (a no-op if it is done). Bad media ends the evidence ``failed`` with the
    reason (re-raised), and so does any other error unless ``fail_on_error`` is False (a job that
    will be retried: the item is only let go). Another runner holding the item raises LeaseHeld."""
    owner = _owner()
    with rt.sessions.begin() as s:
        item = s.get(WorkItem, item_id)
        if item is None:
            raise NotFound(f"work item {item_id} not found (the evidence was re-planned)")
        ev = s.get(Evidence, item.evidence_id)
        assert ev is not None
        if item.state == "done":
            return ItemDone(item.id, ev.id, item.kind, item.frames, _all_done(s, ev.id))
        if ev.state == "failed":
            raise LeaseHeld(f"evidence {ev.id} has failed: {ev.failure_reason}")
        if not _take(s, WorkItem, item_id, owner, rt.settings.lease_s, state="running", progress=0.0, frames=0):
            raise LeaseHeld(f"work item {item_id} is being done by another worker")
    try:
        if item.kind == "segment":
            frames, result = _run_segment(rt, item, ev, owner, on_progress, on_candidate)
        elif item.kind == "quick":
            frames, result = _run_quick(rt, item, ev, owner, on_progress, on_candidate)
        elif item.kind == "plates":
            frames, result = _run_plates(rt, item, ev, owner, on_progress)
        elif item.kind == "transcode":
            frames, result = _run_transcode(rt, item, ev, owner)
        else:
            raise ValueError(f"work item {item_id} has an unknown kind {item.kind!r}")
    except LeaseHeld:
        raise
    except EvidenceError as exc:
        fail_evidence(rt, ev.id, exc.message, item_id)
        raise
    except Exception as exc:
        if fail_on_error:
            fail_evidence(rt, ev.id, f"internal error: {type(exc).__name__}: {exc}", item_id)
        else:
            _let_go(rt, WorkItem, item_id, owner)
        raise
    with rt.sessions.begin() as s:
        # The evidence row is locked first so that of two items finishing at once exactly one sees
        # the other done (and triggers the finalise).
        s.execute(select(Evidence.id).where(Evidence.id == ev.id).with_for_update())
        _fence_item(item_id, owner)(s)
        row = s.get(WorkItem, item_id)
        assert row is not None
        row.state, row.progress, row.frames, row.result, row.finished_at = "done", 1.0, frames, result, utcnow()
        _release(s, row)
        s.flush()
        ev_row = s.get(Evidence, ev.id)
        assert ev_row is not None
        _store_evidence_progress(s, ev_row)
        evidence_event(s, ev.id, "evidence.progress", progress=ev_row.progress, finished=f"{item.kind} {item.index}")
        return ItemDone(item_id, ev.id, item.kind, frames, _all_done(s, ev.id))


def _all_done(s: Session, evidence_id: int) -> bool:
    left = s.scalar(select(WorkItem.id).where(WorkItem.evidence_id == evidence_id, WorkItem.state != "done").limit(1))
    return left is None


def _watchlist(s: Session, rt: Runtime) -> tuple[list[WatchlistSubject], int, float]:
    subjects = load_subjects(s)
    n_references = sum(len(x.embeddings) for x in subjects)
    return subjects, n_references, rt.analysis.threshold_for(n_references)


def _run_segment(rt: Runtime, item: WorkItem, ev: Evidence, owner: str,
                 on_progress: Callable[[float], None] | None,
                 on_candidate: Callable[[CandidateRow], None] | None) -> tuple[int, dict[str, Any]]:
    fence = _fence_item(item.id, owner)
    with rt.sessions.begin() as s:
        fence(s)
        _clear_unreviewed(s, ev.id, item.index)
        subjects, n_references, threshold = _watchlist(s, rt)
    info = _media(ev)
    end_s = item.end_s if item.end_s is not None else info.duration_s
    span = max(end_s - item.start_s, 1e-6)
    frames_seen = [0]
    stored = [0.0, time.monotonic()]  # progress and time of the last write

    def tick(frame: Frame) -> None:
        frames_seen[0] += 1
        done = min(1.0, (frame.t_s - item.start_s) / span)
        if on_progress:
            on_progress(done)
        # `evidence status` sees progress every 5 %; the lease is renewed at least every third of it.
        if done - stored[0] >= 0.05 or time.monotonic() - stored[1] > rt.settings.lease_s / 3:
            stored[0], stored[1] = done, time.monotonic()
            _renew_item(rt, item, owner, done)

    recorder = _Recorder(rt, ev, fence, item.index, subjects, threshold, on_candidate)
    report = DecodeReport()
    m, face = rt.faces, rt.analysis.face
    frames = _counting(iter_frames(rt.store.absolute(ev.store_path), info, rt.analysis.fps, report,
                                   start_s=item.start_s, end_s=item.end_s, threads=rt.settings.decode_threads), tick)

    def detect(frame: Frame) -> tuple[Frame, list[FaceDetection] | None]:
        if not face.needs_full_pass(frame):
            return frame, None
        return frame, detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px)

    def detect_near(frame: Frame, boxes: list[Box]) -> list[FaceDetection]:
        return detect_faces_near(frame, boxes, m.detector, m.aligner, face.min_face_px)

    detected = ordered_map(detect, frames, rt.analysis.workers, inflight=4 * rt.analysis.workers)
    for event in analyse_faces(detected, detect_near, m.embedder, face):
        recorder.record(event)
    return frames_seen[0], {"tracks": recorder.tracks, "decode_warnings": report.warnings[:20],
                            "watchlist": {"subjects": len(subjects), "references": n_references,
                                          "threshold": round(threshold, 4)}}


def _quick_keyframes(times: list[float], every_s: float) -> list[int]:
    """Indices of the key frames the quick pass looks at: at most one per ``every_s`` seconds."""
    chosen: list[int] = []
    for i, t in enumerate(times):
        if not chosen or t - times[chosen[-1]] >= every_s - 1e-6:
            chosen.append(i)
    return chosen


def _run_quick(rt: Runtime, item: WorkItem, ev: Evidence, owner: str,
               on_progress: Callable[[float], None] | None,
               on_candidate: Callable[[CandidateRow], None] | None) -> tuple[int, dict[str, Any]]:
    """Keyframe triage: one embedding per person seen on the key frames, and at most one
    provisional candidate per watchlist subject, as soon as it is found."""
    fence = _fence_item(item.id, owner)
    with rt.sessions.begin() as s:
        fence(s)
        _clear_unreviewed(s, ev.id, QUICK_SEGMENT)
        subjects, _, threshold = _watchlist(s, rt)
        alerted = set(s.scalars(select(CandidateRow.subject_id).join(FaceTrackRow).where(
            CandidateRow.evidence_id == ev.id, FaceTrackRow.segment == QUICK_SEGMENT)))
    if not subjects:
        return 0, {"skipped": "empty watchlist"}
    info = _media(ev)
    path = rt.store.absolute(ev.store_path)
    times = keyframe_times(path, ev.original_name)
    chosen = set(_quick_keyframes(times, rt.settings.quick_pass_every_s))
    spacing = float(np.median(np.diff(sorted(times[i] for i in chosen)))) if len(chosen) > 1 else 2.0
    params = TrackerParams(max_gap_s=2.5 * spacing, max_shift_widths=3.0, embed_to_associate=False)
    duration = max(info.duration_s, 1e-6)
    looked = [0]
    last_renew = [time.monotonic()]

    def keyframes() -> Iterator[Frame]:
        for frame in iter_frames(path, info, None, threads=rt.settings.decode_threads, keyframe_times_s=times):
            if frame.index in chosen:
                looked[0] += 1
                if on_progress:
                    on_progress(frame.t_s / duration)
                if time.monotonic() - last_renew[0] > rt.settings.lease_s / 3:
                    last_renew[0] = time.monotonic()
                    _renew_item(rt, item, owner, frame.t_s / duration)
                yield frame

    m, face = rt.faces, rt.analysis.face

    def detect(frame: Frame) -> tuple[Frame, list[FaceDetection]]:
        return frame, detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px)

    recorder = _Recorder(rt, ev, fence, QUICK_SEGMENT, subjects, threshold, on_candidate)
    detected = ordered_map(detect, keyframes(), rt.analysis.workers, inflight=4 * rt.analysis.workers)
    people = 0
    for track in quick_faces(detected, m.embedder, params):
        people += 1
        matches = match_watchlist(track, subjects, threshold, rt.analysis.max_candidates, frozenset(alerted))
        if matches:
            recorder.record(TrackEvent("closed", track, looked[0]), exclude=frozenset(alerted))
            alerted.update(c.subject_id for c in matches)
    return looked[0], {"keyframes": len(times), "looked_at": looked[0], "people": people,
                       "subjects_alerted": len(alerted), "threshold": round(threshold, 4)}


def _run_plates(rt: Runtime, item: WorkItem, ev: Evidence, owner: str,
                on_progress: Callable[[float], None] | None) -> tuple[int, dict[str, Any]]:
    info = _media(ev)
    span = max((item.end_s if item.end_s is not None else info.duration_s) - item.start_s, 1e-6)
    last = [time.monotonic()]

    def tick(frame: Frame) -> None:
        done = min(1.0, (frame.t_s - item.start_s) / span)
        if on_progress:
            on_progress(done)
        if time.monotonic() - last[0] > rt.settings.lease_s / 3:
            last[0] = time.monotonic()
            _renew_item(rt, item, owner, done)

    report = DecodeReport()
    frames, sightings, crops = find_sightings(rt, ev, info, item.start_s, item.end_s, tick, report)
    saved = save_sightings(rt, ev, item.index, sightings, crops, _fence_item(item.id, owner))
    return frames, {"sightings": saved, "reads": sum(sg.n_reads for sg in sightings),
                    "decode_warnings": report.warnings[:20]}


def _run_transcode(rt: Runtime, item: WorkItem, ev: Evidence, owner: str) -> tuple[int, dict[str, Any]]:
    fence = _fence_item(item.id, owner)
    made = make_working_copy(rt.store, rt.store.absolute(ev.store_path), _media(ev), rt.settings.decode_threads,
                             heartbeat=lambda: _renew_item(rt, item, owner, 0.5), every_s=rt.settings.lease_s / 3)
    try:
        with rt.sessions.begin() as s:
            fence(s)
            if not all(f.stored.path.is_file() for f in made):  # removed by a run that failed meanwhile
                raise RuntimeError(f"work item {item.id}: the working copy left the store before it was recorded")
            for f in made:
                record_derivative(s, ev.id, ev.sha256, f.kind, f.stored.sha256, rt.store.relative(f.stored.path),
                                  {"software": f"evidence-pipeline {__version__}", **f.made_by})
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, [f.stored for f in made])
        raise
    return 0, {f.kind: f.stored.sha256 for f in made}


# --- finalise -------------------------------------------------------------------------------------

def finalise_evidence(rt: Runtime, evidence_id: int) -> bool:
    """Stitch face tracks split by segment cuts, re-match the joined ones, supersede the quick
    pass's pending candidates, record provenance, mark the evidence ``done``. False (and nothing
    written) while work items are unfinished or the evidence failed; True once it is done."""
    owner = _owner()
    _renew_lease(rt, evidence_id, owner)
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        items = list(s.scalars(select(WorkItem).where(WorkItem.evidence_id == evidence_id)))
        if ev.state != "analysing" or any(i.state != "done" for i in items):
            _release(s, ev)
            return ev.state == "done"
        subjects, n_references, threshold = _watchlist(s, rt)
        stitched = _stitch(s, rt, ev, items, subjects, threshold)
        p = rt.analysis.plate
        plates_stitched = stitch_sightings(s, ev, items, p.max_gap_s, p.max_key_distance, p.top_n)
        s.execute(update(CandidateRow).where(
            CandidateRow.evidence_id == evidence_id, CandidateRow.review_state == "pending",
            CandidateRow.track_id.in_(select(FaceTrackRow.id).where(FaceTrackRow.evidence_id == evidence_id,
                                                                  FaceTrackRow.segment == QUICK_SEGMENT)))
            .values(review_state="superseded"))
        n_tracks = s.scalar(select(func.count()).select_from(FaceTrackRow).where(
            FaceTrackRow.evidence_id == evidence_id, FaceTrackRow.segment >= 0))
        segments = sorted((i for i in items if i.kind == "segment"), key=lambda i: i.index)
        quick = next((i for i in items if i.kind == "quick"), None)
        copy = next((i for i in items if i.kind == "transcode"), None)
        plate_items = [i for i in items if i.kind == "plates"]
        ev.provenance = {
            "software": f"evidence-pipeline {__version__}", "models": rt.faces.versions,
            "parameters": {**rt.analysis.as_record(), "segment_s": rt.settings.segment_s},
            "watchlist": {"subjects": len(subjects), "references": n_references, "threshold": round(threshold, 4)},
            "segments": [{"start_s": i.start_s, "end_s": i.end_s, "frames": i.frames,
                          "decode_warnings": i.result.get("decode_warnings", [])} for i in segments],
            "decode_warnings": [w for i in segments for w in i.result.get("decode_warnings", [])][:50],
            "frames_analysed": sum(i.frames for i in segments),
            "tracks_stitched_across_cuts": stitched,
            "quick_pass": quick.result if quick else None,
            "working_copy": copy.result if copy else None,
            "plates": {"models": rt.plates.versions, "frames_searched": sum(i.frames for i in plate_items),
                       "sightings": sum(i.result.get("sightings", 0) for i in plate_items) - plates_stitched,
                       "sightings_stitched_across_cuts": plates_stitched} if plate_items else None,
        }
        ev.state, ev.progress, ev.finished_at = "done", 1.0, utcnow()
        _release(s, ev)
        append_audit(s, Actor("pipeline", "system"), "evidence.analysed", f"evidence:{evidence_id}",
                     detail={"tracks": n_tracks, "stitched": stitched})
        evidence_event(s, evidence_id, "evidence.done", progress=1.0, tracks=n_tracks)
    return True


def _stitch(s: Session, rt: Runtime, ev: Evidence, items: list[WorkItem], subjects: list[WatchlistSubject],
            threshold: float) -> int:
    segments = [Segment(i.index, i.start_s, i.end_s) for i in sorted(items, key=lambda i: i.index)
                if i.kind == "segment"]
    if len(segments) < 2:
        return 0
    rows = {r.id: r for r in s.scalars(select(FaceTrackRow).where(FaceTrackRow.evidence_id == ev.id,
                                                                  FaceTrackRow.segment >= 0))}

    def ends(r: FaceTrackRow) -> TrackEnds:
        return TrackEnds(r.id, r.segment, r.first_t_s, r.last_t_s, tuple(r.first_xyxy or r.best_xyxy),  # type: ignore[arg-type]
                         tuple(r.last_xyxy or r.best_xyxy), embedding_rows(r.embeddings))  # type: ignore[arg-type]

    joined = stitch_tracks([ends(r) for r in rows.values()], segments, rt.analysis.face.tracker)
    cands: dict[int, dict[int, CandidateRow]] = {}
    for c in s.scalars(select(CandidateRow).where(CandidateRow.evidence_id == ev.id)):
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
        embeddings = embedding_rows(root.embeddings)
        matches = match_embeddings(root.track_index, embeddings, root.best_t_s, subjects, threshold,
                                   rt.analysis.max_candidates, _rejected(s, root.id))
        _sync_candidates(s, ev.id, root, matches, rt.faces.embedder_version, final=True)
    return merged


# --- in-process: the whole chain ------------------------------------------------------------------

def analyse_evidence(
    rt: Runtime,
    evidence_id: int,
    on_progress: Callable[[float], None] | None = None,
    on_candidate: Callable[[CandidateRow], None] | None = None,
) -> AnalysisSummary:
    """Ingest check, every work item, finalise — in this process, one item after another (the
    workers run the same steps as jobs). The evidence ends ``done`` or ``failed`` with the reason
    (the error is re-raised)."""
    started = time.monotonic()
    first: list[float] = []

    def candidate(c: CandidateRow) -> None:
        if not first:
            first.append(time.monotonic() - started)
        if on_candidate:
            on_candidate(c)

    todo = prepare_evidence(rt, evidence_id, restart=True)
    with rt.sessions() as s:
        items = {i.id: i for i in s.scalars(select(WorkItem).where(WorkItem.id.in_(todo)))}
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        duration = max(float(ev.media.get("duration_s", 0.0)), 1e-6)
    copy_s = 0.0
    for item_id in todo:
        item = items[item_id]
        span = ((item.end_s if item.end_s is not None else duration) - item.start_s) / duration

        def progress(p: float, item: WorkItem = item, span: float = span) -> None:
            if on_progress and item.kind == "segment":
                on_progress(min(1.0, item.start_s / duration + p * span))

        t = time.monotonic()
        run_item(rt, item_id, progress, candidate)
        if item.kind == "transcode":
            copy_s += time.monotonic() - t
    if not finalise_evidence(rt, evidence_id):
        raise LeaseHeld(f"evidence {evidence_id}: work items were taken over by another runner")
    if on_progress:
        on_progress(1.0)
    with rt.sessions() as s:
        n_tracks = s.scalar(select(func.count()).select_from(FaceTrackRow).where(
            FaceTrackRow.evidence_id == evidence_id, FaceTrackRow.segment >= 0)) or 0
        frames = s.scalar(select(func.sum(WorkItem.frames)).where(WorkItem.evidence_id == evidence_id,
                                                                 WorkItem.kind == "segment")) or 0
    return AnalysisSummary(evidence_id, n_tracks, int(frames), time.monotonic() - started, first[0] if first else None,
                           copy_s)
