"""Re-making stored face vectors with this process's embedder, after a force changes it
(``EVIDENCE_FACE_EMBEDDER``): until then matching refuses (``ModelMismatch``) and searches leave
the other model's tracks out, saying so.

    stale(rt)                    what another embedder made: references, tracks, evidence to re-run
    reembed(rt, actor, reason)   re-make all of it; each step commits on its own, so a run
                                 stopped half-way is resumed by running it again

- Watchlist references are embedded again from their stored photos (each subject in one
  transaction, its version moved on: candidates say which references they matched).
- Tracks a person's decision keeps through a re-analysis (a confirmed or rejected candidate) are
  embedded again from their stored crop, first.
- Evidence with tracks of another embedder, or failed because its references were of another
  embedder, is analysed again (the face pass re-made; unreviewed results replaced, people's
  decisions kept): on the workers when Redis is configured, else here, one after another.

Every step is in the audit log under the named person who asked, with their reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from evidence.audit import Actor, append_audit, recorded_reason
from evidence.db.governance_tables import INDEX_EPOCH, bump_marker
from evidence.db.tables import (CandidateRow, Derivative, Evidence, FaceTrackRow, WatchlistReference,
                                WatchlistSubjectRow, WorkItem)
from evidence.errors import EvidenceError, InvalidReference, ModelMismatch
from evidence.faceindex import other_embedder_tracks
from evidence.images import decode_rgb
from evidence.runtime import Runtime
from evidence.states import UNREVIEWED, EvidenceState
from evidence.watchlists import embed_photo
from evidence.work.dispatch import WorkQueue
from evidence.work.driver import analyse_evidence
from evidence.work.lease import LeaseHeld
from pipeline.faces import embed_reference

__all__ = ["ReembedReport", "Stale", "reembed", "stale"]


@dataclass(frozen=True)
class Stale:
    """What another embedder than ``embedder`` made (ids)."""

    embedder: str
    subjects: list[int]  # subjects with a reference of another embedder
    references: int
    evidence: list[int]  # evidence to analyse again
    tracks: int

    @property
    def none(self) -> bool:
        return not (self.subjects or self.evidence or self.tracks)


@dataclass
class ReembedReport:
    references: int = 0
    subjects: int = 0
    evidence_reanalysed: list[int] = field(default_factory=list)
    evidence_queued: list[int] = field(default_factory=list)
    tracks_from_crops: int = 0
    problems: list[str] = field(default_factory=list)


def _mismatch_failures() -> str:
    return f"%{ModelMismatch.REMEDY}%"


def stale(rt: Runtime) -> Stale:
    name = rt.faces.profile.name
    with rt.sessions() as s:
        refs = list(s.execute(select(WatchlistReference.id, WatchlistReference.subject_id)
                              .where(WatchlistReference.embedder != name)))
        tracked = set(s.scalars(select(FaceTrackRow.evidence_id).where(FaceTrackRow.embedder != name).distinct()))
        failed = set(s.scalars(select(Evidence.id).where(Evidence.state == EvidenceState.FAILED,
                                                         Evidence.failure_reason.like(_mismatch_failures()))))
        tracks = other_embedder_tracks(s, name)
    return Stale(name, sorted({sid for _, sid in refs}), len(refs), sorted(tracked | failed), tracks)


def _references(rt: Runtime, subject_id: int, actor: Actor, reason: str, report: ReembedReport) -> None:
    m, name = rt.faces, rt.faces.profile.name
    with rt.sessions.begin() as s:
        subject = s.scalar(select(WatchlistSubjectRow).where(WatchlistSubjectRow.id == subject_id)
                           .options(selectinload(WatchlistSubjectRow.references)).with_for_update())
        if subject is None:
            return
        done = 0
        for ref in subject.references:
            if ref.embedder == name:
                continue
            label = f"{subject.name} ({ref.sha256[:12]})"
            try:
                img = decode_rgb(rt.store.absolute(ref.store_path).read_bytes(), label)
                vec = embed_photo(m, img, label)
            except (InvalidReference, OSError) as exc:
                report.problems.append(f"reference {label}: {getattr(exc, 'message', exc)}; replace or remove it")
                continue
            ref.embedding, ref.model_version, ref.embedder = vec.astype("<f4").tobytes(), m.embedder_version, name
            done += 1
        if done:
            subject.version += 1  # candidates record the version of the references they matched
            append_audit(s, actor, "watchlist.reembed", f"subject:{subject.id}", reason=reason,
                         detail={"name": subject.name, "references": done, "embedder": name})
            report.references += done
            report.subjects += 1


def _reanalyse(rt: Runtime, evidence_id: int, actor: Actor, reason: str, queue: WorkQueue | None,
               report: ReembedReport) -> None:
    """Analyse the evidence again: finished evidence has its plan dropped and is queued, as if it
    had just arrived; evidence left unfinished (a run of this stopped half-way) is taken up where
    it is — by the workers' reconcile, or here unless another runner holds it."""
    with rt.sessions.begin() as s:
        ev = s.get(Evidence, evidence_id, with_for_update=True)
        if ev is None:
            return
        if ev.state in (EvidenceState.DONE, EvidenceState.FAILED):
            s.execute(delete(WorkItem).where(WorkItem.evidence_id == evidence_id))
            ev.state, ev.progress, ev.failure_reason, ev.finished_at = EvidenceState.QUEUED, 0.0, None, None
            append_audit(s, actor, "evidence.reanalyse", f"evidence:{evidence_id}", reason=reason,
                         detail={"why": "face vectors of another embedder", "embedder": rt.faces.profile.name})
    if queue is not None:
        queue.submit(evidence_id)
        report.evidence_queued.append(evidence_id)
        return
    try:
        analyse_evidence(rt, evidence_id)
        report.evidence_reanalysed.append(evidence_id)
    except LeaseHeld:
        report.problems.append(f"evidence {evidence_id} is being analysed by another process: run this again "
                               "when it is done")
    except EvidenceError as exc:
        report.problems.append(f"evidence {evidence_id}: {exc.message}")


def _tracks_from_crops(rt: Runtime, actor: Actor, reason: str, report: ReembedReport, decided_only: bool) -> None:
    """Tracks of another embedder (``decided_only``: those a person's decision keeps), from their best crop."""
    m, name = rt.faces, rt.faces.profile.name
    q = (select(FaceTrackRow.id, Derivative.store_path).join(Derivative, Derivative.id == FaceTrackRow.crop_id)
         .where(FaceTrackRow.embedder != name))
    if decided_only:
        q = q.where(FaceTrackRow.id.in_(select(CandidateRow.track_id).where(CandidateRow.review_state.not_in(UNREVIEWED))))
    with rt.sessions() as s:
        rows = list(s.execute(q))
    made = 0
    for track_id, path in rows:
        label = f"face track {track_id}'s crop"
        try:
            img = decode_rgb(rt.store.absolute(path).read_bytes(), label)
            try:
                vec = embed_reference(img, m.reference_detector, m.aligner, m.embedder, label)
            except InvalidReference:  # a turned or dark face HOG misses: the footage's own detector
                vec = embed_reference(img, m.detector, m.aligner, m.embedder, label)
        except (InvalidReference, OSError) as exc:
            report.problems.append(f"{label}: {getattr(exc, 'message', exc)}; it stays out of searches")
            continue
        with rt.sessions.begin() as s:
            row = s.get(FaceTrackRow, track_id, with_for_update=True)
            if row is None or row.embedder == name:
                continue
            row.embeddings, row.embedder = vec.reshape(1, -1).astype("<f4").tobytes(), name
            append_audit(s, actor, "face_track.reembed", f"face_track:{track_id}", reason=reason,
                         detail={"embedder": name, "from": "its best crop"})
        made += 1
    if made:
        with rt.sessions.begin() as s:
            bump_marker(s, INDEX_EPOCH)  # the same ids, new vectors: every process rebuilds its face index
    report.tracks_from_crops += made


def reembed(rt: Runtime, actor: Actor, reason: str, queue: WorkQueue | None = None,
            progress: Callable[[str], None] | None = None) -> ReembedReport:
    """Re-make every stored face vector another embedder made (see the module docstring)."""
    reason = recorded_reason(reason)
    say = progress or (lambda _: None)
    todo = stale(rt)
    report = ReembedReport()
    with rt.sessions.begin() as s:
        append_audit(s, actor, "models.reembed", f"embedder:{todo.embedder}", reason=reason,
                     detail={"subjects": len(todo.subjects), "references": todo.references,
                             "evidence": todo.evidence, "tracks": todo.tracks})
    _tracks_from_crops(rt, actor, reason, report, decided_only=True)
    for n, subject_id in enumerate(todo.subjects, start=1):
        _references(rt, subject_id, actor, reason, report)
        say(f"references: subject {n} of {len(todo.subjects)}")
    if stale(rt).subjects:  # matching would still refuse: analysing the footage again would only fail
        report.problems.append("footage not analysed again until every reference is re-made (replace or remove "
                               "the photos named above, then run this again)")
        return report
    for n, evidence_id in enumerate(todo.evidence, start=1):
        _reanalyse(rt, evidence_id, actor, reason, queue, report)
        say(f"evidence {evidence_id}: {'queued' if queue else 'analysed again'} ({n} of {len(todo.evidence)})")
    if queue is None:  # what a re-analysis could not re-make (it failed): from crops too
        _tracks_from_crops(rt, actor, reason, report, decided_only=False)
    return report
