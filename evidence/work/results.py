"""Face results as they are stored: a track row per face track (its best crop a derivative of the
original), and its watchlist candidates, ``pending`` until a named person decides. Shared by the
segment and quick-pass runners (``Recorder``) and by the finalise (tracks stitched across a cut
are matched again with ``sync_candidates``). A person's decision is never thrown away: re-runs
clear only unreviewed results, and a subject rejected for a track is not raised for it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from evidence import SOFTWARE
from evidence.alerts import close_stale_alerts
from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow
from evidence.derivatives import discard_unreferenced, ensure_stored, record_derivative
from evidence.events import candidate_event
from evidence.images import encode_jpeg
from evidence.runtime import Runtime
from evidence.states import UNREVIEWED, ReviewState
from evidence.utc import utcnow
from evidence.watchlist_lists import lists_for_incident
from evidence.watchlists import SubjectMeta, load_subjects
from evidence.work.lease import Lease
from pipeline.analysis import TrackEvent
from pipeline.types import WatchlistSubject
from pipeline.watchlist import match_embeddings

__all__ = ["QUICK_SEGMENT", "TRACK_INDEX_STRIDE", "Recorder", "Watchlist", "clear_unreviewed", "sync_candidates"]

QUICK_SEGMENT = -1  # FaceTrackRow.segment of the keyframe quick pass
TRACK_INDEX_STRIDE = 100_000  # track_index = segment * stride + the tracker's own index
CandidateHook = Callable[[CandidateRow], None]


@dataclass(frozen=True)
class Watchlist:
    """The live subjects of the lists chosen for the evidence's incident, as a run matches against
    them, what each candidate records about its subject, and the threshold derived for their size."""

    subjects: list[WatchlistSubject]
    meta: dict[int, SubjectMeta]
    references: int
    threshold: float

    @classmethod
    def load(cls, s: Session, rt: Runtime, evidence_id: int) -> Watchlist:
        ev = s.get(Evidence, evidence_id)
        lists = lists_for_incident(s, ev.incident_id if ev else None, rt.settings.default_watchlists)
        subjects, meta = load_subjects(s, lists, embedder=rt.faces.profile.name)
        n = sum(len(x.embeddings) for x in subjects)
        return cls(subjects, meta, n, rt.analysis.threshold_for(n))

    def expired(self) -> frozenset[int]:
        """Subjects whose (or whose list's) expiry has passed since the run loaded them."""
        now = utcnow()
        return frozenset(i for i, m in self.meta.items() if m.expires_at is not None and m.expires_at <= now)

    def record(self) -> dict[str, object]:
        return {"subjects": len(self.subjects), "references": self.references, "threshold": round(self.threshold, 4),
                "lists": sorted({m.watchlist_id for m in self.meta.values()})}


def clear_unreviewed(s: Session, evidence_id: int, segment: int | None = None) -> None:
    """Drop results of an earlier, unfinished or repeated run (of one segment, or all); reviewed
    candidates (and their tracks) stay."""
    tracks = select(FaceTrackRow.id).where(FaceTrackRow.evidence_id == evidence_id)
    if segment is not None:
        tracks = tracks.where(FaceTrackRow.segment == segment)
    s.execute(delete(CandidateRow).where(CandidateRow.evidence_id == evidence_id,
                                         CandidateRow.review_state.in_(UNREVIEWED),
                                         CandidateRow.track_id.in_(tracks)))
    kept = select(CandidateRow.track_id).where(CandidateRow.evidence_id == evidence_id)
    s.execute(delete(FaceTrackRow).where(FaceTrackRow.id.in_(tracks), FaceTrackRow.id.not_in(kept)))
    close_stale_alerts(s, evidence_id)


def _rejected(s: Session, track_id: int) -> frozenset[int]:
    return frozenset(s.scalars(select(CandidateRow.subject_id).where(CandidateRow.track_id == track_id,
                                                                     CandidateRow.review_state == ReviewState.REJECTED)))


def sync_candidates(s: Session, rt: Runtime, row: FaceTrackRow, embeddings: npt.NDArray[np.float32], t_s: float,
                    watchlist: Watchlist, final: bool, exclude: frozenset[int] = frozenset()) -> list[CandidateRow]:
    """Match the track against the watchlist (subjects rejected for it, and ``exclude``, left
    out) and make its pending candidates those matches; returns the new ones, each announced on
    the incident's feed. Reviewed candidates stay as they are. With ``final`` (the track closed),
    pending candidates that more frames no longer support are withdrawn."""
    matches = match_embeddings(row.track_index, embeddings, t_s, watchlist.subjects, watchlist.threshold,
                               rt.analysis.max_candidates, _rejected(s, row.id) | exclude | watchlist.expired())
    existing = {c.subject_id: c for c in s.scalars(select(CandidateRow).where(CandidateRow.track_id == row.id))}
    fresh = []
    for m in matches:
        c = existing.get(m.subject_id)
        if c is None:
            meta = watchlist.meta[m.subject_id]
            c = CandidateRow(evidence_id=row.evidence_id, track_id=row.id, subject_id=m.subject_id,
                             model_version=rt.faces.embedder_version, review_state=ReviewState.PENDING,
                             watchlist_id=meta.watchlist_id, subject_version=meta.version, authority=meta.authority)
            s.add(c)
            fresh.append(c)
        elif c.review_state != ReviewState.PENDING:
            continue
        c.rank, c.distance, c.score, c.threshold, c.t_s = m.rank, m.distance, m.score, m.threshold, m.t_s
    withdrawn = 0
    if final:
        keep = {m.subject_id for m in matches}
        for sid, c in existing.items():
            if c.review_state == ReviewState.PENDING and sid not in keep:
                s.delete(c)
                withdrawn += 1
    s.flush()
    if withdrawn:
        close_stale_alerts(s, row.evidence_id)
    for c in fresh:
        s.refresh(c, ["subject", "track"])
        candidate_event(s, c)
    return fresh


class Recorder:
    """Writes each track event of one work item — the track row, its best crop, its candidates —
    in one transaction fenced by the item's lease, so candidates appear while the clip is still
    being analysed."""

    def __init__(self, rt: Runtime, evidence_id: int, parent_sha256: str, lease: Lease, segment: int,
                 watchlist: Watchlist, on_candidate: CandidateHook | None) -> None:
        self.rt, self.evidence_id, self.parent_sha256, self.lease = rt, evidence_id, parent_sha256, lease
        self.segment, self.watchlist, self.on_candidate = segment, watchlist, on_candidate
        self.tracks = 0
        # What made every crop of this run: the same for all of them, so built once.
        self.made_by = {"software": SOFTWARE, "models": rt.faces.versions, "parameters": rt.analysis.as_record(),
                        "match_threshold_used": round(watchlist.threshold, 4)}

    def track_index(self, local: int) -> int:
        return -1 - local if self.segment == QUICK_SEGMENT else self.segment * TRACK_INDEX_STRIDE + local

    def record(self, event: TrackEvent, exclude: frozenset[int] = frozenset()) -> list[CandidateRow]:
        """Store the track as it is now; returns the candidates it raised for the first time."""
        rt, track = self.rt, event.track
        jpeg = encode_jpeg(track.best.crop)
        crop = rt.store.put_bytes(jpeg, "derivatives", ".jpg")
        try:
            with rt.sessions.begin() as s:
                self.lease.fence(s)  # write only while this run still holds its work item
                crop = ensure_stored(crop, lambda: rt.store.put_bytes(jpeg, "derivatives", ".jpg"))
                row = self._save_track(s, event, crop.sha256, rt.store.relative(crop.path))
                fresh = sync_candidates(s, rt, row, track.embeddings, track.best.detection.t_s, self.watchlist,
                                        final=event.kind == "closed", exclude=exclude)
        except BaseException:
            discard_unreferenced(rt.sessions, rt.store, [crop])
            raise
        for c in fresh:
            if self.on_candidate:
                self.on_candidate(c)
        return fresh

    def _save_track(self, s: Session, event: TrackEvent, crop_sha: str, crop_path: str) -> FaceTrackRow:
        track = event.track
        best = track.best.detection
        deriv = record_derivative(s, self.evidence_id, self.parent_sha256, "face_crop", crop_sha, crop_path,
                                  {**self.made_by, "t_s": best.t_s, "xyxy": list(best.xyxy),
                                   "crop_origin_xy": list(track.best.crop_origin_xy)})
        index = self.track_index(track.track_index)
        row = s.scalar(select(FaceTrackRow).where(FaceTrackRow.evidence_id == self.evidence_id,
                                                  FaceTrackRow.track_index == index))
        if row is None:
            row = FaceTrackRow(evidence_id=self.evidence_id, track_index=index, segment=self.segment)
            s.add(row)
            self.tracks += 1
        row.first_t_s, row.last_t_s, row.best_t_s = track.first_t_s, track.last_t_s, best.t_s
        row.best_xyxy, row.n_detections, row.quality = [round(v, 1) for v in best.xyxy], track.n_detections, track.quality
        row.first_xyxy, row.last_xyxy = [round(v, 1) for v in track.first_xyxy], [round(v, 1) for v in track.last_xyxy]
        row.closed = event.kind == "closed"
        row.embeddings = track.embeddings.astype("<f4").tobytes()
        row.embedder = self.rt.faces.profile.name
        row.crop_id = deriv.id
        s.flush()
        return row
