"""Ingest a clip and analyse it: the chain the CLI runs in-process and the workers run as jobs.

State machine of an evidence row: queued -> analysing -> done | failed (with reason). Results are
written per face track, each in its own transaction, so candidates appear while the clip is still
being analysed; a re-run first clears unreviewed results, so it cannot duplicate them."""

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

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from evidence import __version__
from evidence.audit import Actor, append_audit
from evidence.db.tables import CandidateRow, Derivative, Evidence, FaceTrackRow, Incident, utcnow
from evidence.images import encode_jpeg
from evidence.mediaio import DecodeReport, iter_frames, probe_media
from evidence.runtime import Runtime
from evidence.watchlists import load_subjects
from evidence.ordered import ordered_map
from pipeline.analysis import TrackEvent, analyse_faces
from pipeline.faces import detect_faces, detect_faces_near
from pipeline.errors import Conflict, EvidenceError, NotFound
from pipeline.types import Box, FaceDetection, Frame, MediaInfo, WatchlistSubject
from pipeline.watchlist import match_watchlist

__all__ = ["AnalysisSummary", "LeaseHeld", "analyse_evidence", "get_or_create_incident", "ingest_clip"]


class LeaseHeld(Conflict):
    """Another runner holds (or took over) this evidence; this run stops without writing."""

    code = "lease_held"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _renew_lease(rt: Runtime, evidence_id: int, owner: str, progress: float | None = None) -> None:
    """Take or extend the lease (and store progress); LeaseHeld if another runner has it."""
    now = utcnow()
    values: dict[str, Any] = {"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=rt.settings.lease_s)}
    if progress is not None:
        values["progress"] = round(progress, 3)
    free = or_(Evidence.lease_owner.is_(None), Evidence.lease_owner == owner, Evidence.lease_expires_at < now)
    with rt.sessions.begin() as s:
        if s.execute(update(Evidence).where(Evidence.id == evidence_id, free).values(**values)).rowcount != 1:
            raise LeaseHeld(f"evidence {evidence_id} is being analysed by another worker")


def get_or_create_incident(s: Session, reference: str) -> Incident:
    incident = s.scalar(select(Incident).where(Incident.reference == reference))
    if incident is None:
        incident = Incident(reference=reference, title=reference)
        s.add(incident)
        s.flush()
    return incident


def ingest_clip(rt: Runtime, path: Path, incident_ref: str | None, actor: Actor) -> int:
    """Probe (InvalidMedia before anything is stored), store the original read-only under its
    SHA-256, and record the evidence row. The same bytes on the same incident reuse the row."""
    info = probe_media(path)
    stored = rt.store.put_file(path, "originals")
    try:
        with rt.sessions.begin() as s:
            incident = get_or_create_incident(s, incident_ref) if incident_ref else None
            incident_id = incident.id if incident else None
            ev = s.scalar(select(Evidence).where(Evidence.sha256 == stored.sha256,
                                                 Evidence.incident_id.is_(None) if incident_id is None
                                                 else Evidence.incident_id == incident_id))
            if ev is None:
                ev = Evidence(incident_id=incident_id, sha256=stored.sha256, original_name=path.name,
                              size_bytes=stored.size_bytes, store_path=rt.store.relative(stored.path),
                              media=dataclasses.asdict(info), state="queued")
                s.add(ev)
                s.flush()
            append_audit(s, actor, "evidence.ingest", f"evidence:{ev.id}",
                         detail={"sha256": stored.sha256, "name": path.name, "incident": incident_ref})
            return ev.id
    except BaseException:
        if not stored.existed:
            rt.store.discard_new(stored.path)
        raise


@dataclass(frozen=True)
class AnalysisSummary:
    evidence_id: int
    tracks: int
    frames: int
    wall_s: float
    first_candidate_s: float | None


def _media(ev: Evidence) -> MediaInfo:
    m = dict(ev.media)
    m["size_wh"] = tuple(m["size_wh"])
    return MediaInfo(**m)


def _clear_unreviewed(s: Session, evidence_id: int) -> None:
    """Drop results of an earlier, unfinished or repeated run; reviewed candidates (and their
    tracks) stay: a person's decision is never thrown away."""
    s.execute(delete(CandidateRow).where(CandidateRow.evidence_id == evidence_id,
                                         CandidateRow.review_state == "pending"))
    kept = select(CandidateRow.track_id).where(CandidateRow.evidence_id == evidence_id)
    s.execute(delete(FaceTrackRow).where(FaceTrackRow.evidence_id == evidence_id, FaceTrackRow.id.not_in(kept)))


class _Recorder:
    """Writes each track event: the track row, its best crop as a derivative, its candidates."""

    def __init__(self, rt: Runtime, ev: Evidence, owner: str, subjects: list[WatchlistSubject], threshold: float,
                 on_candidate: Callable[[CandidateRow], None] | None) -> None:
        self.rt, self.ev, self.owner, self.subjects, self.on_candidate = rt, ev, owner, subjects, on_candidate
        self.cfg, self.threshold = rt.analysis, threshold
        self.tracks = 0
        # What made every crop of this run: the same for all of them, so built once.
        self.made_by = {"software": f"evidence-pipeline {__version__}", "models": rt.faces.versions,
                        "parameters": rt.analysis.as_record(), "match_threshold_used": round(threshold, 4)}

    def record(self, event: TrackEvent) -> None:
        track, rt = event.track, self.rt
        crop = rt.store.put_bytes(encode_jpeg(track.best.crop), "derivatives", ".jpg")
        try:
            with rt.sessions.begin() as s:
                # Fencing: write only while this run still holds the evidence.
                holder = s.scalar(select(Evidence.lease_owner).where(Evidence.id == self.ev.id).with_for_update())
                if holder != self.owner:
                    raise LeaseHeld(f"evidence {self.ev.id}: another worker took over")
                row = self._save_track(s, event, crop.sha256, rt.store.relative(crop.path))
                fresh = self._save_candidates(s, event, row)
        except BaseException:
            if not crop.existed:
                rt.store.discard_new(crop.path)
            raise
        for c in fresh:
            if self.on_candidate:
                self.on_candidate(c)

    def _save_track(self, s: Session, event: TrackEvent, crop_sha: str, crop_path: str) -> FaceTrackRow:
        track = event.track
        best = track.best.detection
        deriv = s.scalar(select(Derivative).where(Derivative.evidence_id == self.ev.id, Derivative.sha256 == crop_sha))
        if deriv is None:
            deriv = Derivative(evidence_id=self.ev.id, parent_sha256=self.ev.sha256, kind="face_crop",
                               sha256=crop_sha, store_path=crop_path,
                               made_by={**self.made_by, "t_s": best.t_s, "xyxy": list(best.xyxy),
                                        "crop_origin_xy": list(track.best.crop_origin_xy)})
            s.add(deriv)
            s.flush()
        row = s.scalar(select(FaceTrackRow).where(FaceTrackRow.evidence_id == self.ev.id,
                                                  FaceTrackRow.track_index == track.track_index))
        if row is None:
            row = FaceTrackRow(evidence_id=self.ev.id, track_index=track.track_index)
            s.add(row)
            self.tracks += 1
        row.first_t_s, row.last_t_s, row.best_t_s = track.first_t_s, track.last_t_s, best.t_s
        row.best_xyxy, row.n_detections, row.quality = [round(v, 1) for v in best.xyxy], track.n_detections, track.quality
        row.closed = event.kind == "closed"
        row.embeddings = track.embeddings.astype("<f4").tobytes()
        row.crop_id = deriv.id
        s.flush()
        return row

    def _save_candidates(self, s: Session, event: TrackEvent, row: FaceTrackRow) -> list[CandidateRow]:
        existing = {c.subject_id: c for c in s.scalars(select(CandidateRow).where(CandidateRow.track_id == row.id))}
        rejected = frozenset(sid for sid, c in existing.items() if c.review_state == "rejected")
        matches = match_watchlist(event.track, self.subjects, self.threshold, self.cfg.max_candidates, rejected)
        fresh = []
        for m in matches:
            c = existing.get(m.subject_id)
            if c is None:
                c = CandidateRow(evidence_id=self.ev.id, track_id=row.id, subject_id=m.subject_id,
                                 model_version=self.rt.faces.embedder_version, review_state="pending")
                s.add(c)
                fresh.append(c)
            elif c.review_state != "pending":
                continue
            c.rank, c.distance, c.score, c.threshold, c.t_s = m.rank, m.distance, m.score, m.threshold, m.t_s
        if event.kind == "closed":  # provisional matches that more frames no longer support
            keep = {m.subject_id for m in matches}
            for sid, c in existing.items():
                if c.review_state == "pending" and sid not in keep:
                    s.delete(c)
        s.flush()
        for c in fresh:
            s.refresh(c, ["subject", "track"])
        return fresh


def _counting(frames: Iterator[Frame], tick: Callable[[Frame], None]) -> Iterator[Frame]:
    for f in frames:
        tick(f)
        yield f


def _fail(rt: Runtime, evidence_id: int, reason: str) -> None:
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        if ev is not None:
            _clear_unreviewed(s, evidence_id)
            ev.state, ev.failure_reason, ev.finished_at = "failed", reason, utcnow()
            ev.lease_owner, ev.lease_expires_at = None, None
            append_audit(s, Actor("pipeline", "system"), "evidence.failed", f"evidence:{evidence_id}", reason=reason)


def analyse_evidence(
    rt: Runtime,
    evidence_id: int,
    on_progress: Callable[[float], None] | None = None,
    on_candidate: Callable[[CandidateRow], None] | None = None,
) -> AnalysisSummary:
    """Run the face chain over a stored clip and record tracks and candidates; the evidence ends
    ``done`` or ``failed`` with the reason (the error is re-raised)."""
    started = time.monotonic()
    owner = _owner()
    with rt.sessions() as s:
        if s.get(Evidence, evidence_id) is None:
            raise NotFound(f"evidence {evidence_id} not found")
    _renew_lease(rt, evidence_id, owner)
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        _clear_unreviewed(s, evidence_id)
        ev.state, ev.progress, ev.failure_reason = "analysing", 0.0, None
        subjects = load_subjects(s)
    info = _media(ev)
    first: list[float] = []
    frames_seen = [0]

    stored = [0.0, time.monotonic()]  # progress and time of the last write

    def tick(frame: Frame) -> None:
        frames_seen[0] += 1
        done = min(1.0, frame.t_s / max(info.duration_s, 1e-6))
        if on_progress:
            on_progress(done)
        # `evidence status` sees progress every 5 %; the lease is renewed at least every third of it.
        if done - stored[0] >= 0.05 or time.monotonic() - stored[1] > rt.settings.lease_s / 3:
            stored[0], stored[1] = done, time.monotonic()
            _renew_lease(rt, evidence_id, owner, done)

    def candidate(c: CandidateRow) -> None:
        if not first:
            first.append(time.monotonic() - started)
        if on_candidate:
            on_candidate(c)

    n_references = sum(len(x.embeddings) for x in subjects)
    threshold = rt.analysis.threshold_for(n_references)
    recorder = _Recorder(rt, ev, owner, subjects, threshold, candidate)
    report = DecodeReport()
    m = rt.faces
    try:
        frames = _counting(iter_frames(rt.store.absolute(ev.store_path), info, rt.analysis.fps, report), tick)
        face = rt.analysis.face

        def detect(frame: Frame) -> tuple[Frame, list[FaceDetection] | None]:
            if not face.needs_full_pass(frame):
                return frame, None
            return frame, detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px)

        def detect_near(frame: Frame, boxes: list[Box]) -> list[FaceDetection]:
            return detect_faces_near(frame, boxes, m.detector, m.aligner, face.min_face_px)

        detected = ordered_map(detect, frames, rt.analysis.workers, inflight=4 * rt.analysis.workers)
        for event in analyse_faces(detected, detect_near, m.embedder, face):
            recorder.record(event)
    except LeaseHeld:
        raise  # someone else has it now: leave their state alone
    except EvidenceError as exc:
        _fail(rt, evidence_id, exc.message)
        raise
    except Exception as exc:
        _fail(rt, evidence_id, f"internal error: {type(exc).__name__}: {exc}")
        raise
    provenance: dict[str, Any] = {
        "software": f"evidence-pipeline {__version__}", "models": m.versions,
        "parameters": rt.analysis.as_record(),
        "watchlist": {"subjects": len(subjects), "references": n_references, "threshold": round(threshold, 4)},
        "decode_warnings": report.warnings[:50],
        "frames_analysed": frames_seen[0],
    }
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        if ev.lease_owner != owner:
            raise LeaseHeld(f"evidence {evidence_id}: lease lost before the results were final")
        ev.state, ev.progress, ev.finished_at, ev.provenance = "done", 1.0, utcnow(), provenance
        ev.lease_owner, ev.lease_expires_at = None, None
        append_audit(s, Actor("pipeline", "system"), "evidence.analysed", f"evidence:{evidence_id}",
                     detail={"tracks": recorder.tracks})
    if on_progress:
        on_progress(1.0)
    return AnalysisSummary(evidence_id, recorder.tracks, frames_seen[0], time.monotonic() - started,
                           first[0] if first else None)
