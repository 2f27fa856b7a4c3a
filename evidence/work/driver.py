"""The whole chain in this process, one step after another — what `evidence process` and an API
with no workers run; the workers run the same steps as jobs (``workers.jobs``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from evidence.db.tables import CandidateRow, Evidence, FaceTrackRow, WorkItem
from evidence.runtime import Runtime
from evidence.states import WorkKind
from evidence.work.contract import Hooks
from evidence.work.finalise import finalise_evidence
from evidence.work.lease import LeaseHeld
from evidence.work.plan import prepare_evidence
from evidence.work.runner import run_item

__all__ = ["AnalysisSummary", "analyse_evidence"]


@dataclass(frozen=True)
class AnalysisSummary:
    evidence_id: int
    tracks: int
    frames: int
    wall_s: float
    first_candidate_s: float | None
    working_copy_s: float = 0.0  # part of wall_s: making the working copy after the analysis


def analyse_evidence(rt: Runtime, evidence_id: int, on_progress: Callable[[float], None] | None = None,
                     on_candidate: Callable[[CandidateRow], None] | None = None,
                     hashed_at_intake: bool = False) -> AnalysisSummary:
    """Ingest check, every work item, finalise. The evidence ends ``done`` or ``failed`` with the
    reason (the error is re-raised). ``on_progress`` gets the share of the clip's faces analysed;
    ``hashed_at_intake``: this run has just stored (and hashed) the original."""
    started = time.monotonic()
    first: list[float] = []

    def candidate(c: CandidateRow) -> None:
        if not first:
            first.append(time.monotonic() - started)
        if on_candidate:
            on_candidate(c)

    todo = prepare_evidence(rt, evidence_id, restart=True, hashed_at_intake=hashed_at_intake)
    with rt.sessions() as s:
        items = {i.id: (WorkKind(i.kind), i.start_s, i.end_s) for i in s.scalars(select(WorkItem).where(
            WorkItem.id.in_(todo)))}
        ev = s.get(Evidence, evidence_id)
        assert ev is not None
        duration = max(float(ev.media.get("duration_s", 0.0)), 1e-6)
    copy_s = 0.0
    for item_id in todo:
        kind, start_s, end_s = items[item_id]
        span = ((end_s if end_s is not None else duration) - start_s) / duration

        def progress(p: float, kind: WorkKind = kind, start_s: float = start_s, span: float = span) -> None:
            if on_progress and kind == WorkKind.SEGMENT:
                on_progress(min(1.0, start_s / duration + p * span))

        t = time.monotonic()
        run_item(rt, item_id, Hooks(progress, candidate))
        if kind == WorkKind.TRANSCODE:
            copy_s += time.monotonic() - t
    if not finalise_evidence(rt, evidence_id):
        raise LeaseHeld(f"evidence {evidence_id}: work items were taken over by another runner")
    if on_progress:
        on_progress(1.0)
    with rt.sessions() as s:
        n_tracks = s.scalar(select(func.count()).select_from(FaceTrackRow).where(
            FaceTrackRow.evidence_id == evidence_id, FaceTrackRow.segment >= 0)) or 0
        frames = s.scalar(select(func.sum(WorkItem.frames)).where(WorkItem.evidence_id == evidence_id,
                                                                 WorkItem.kind == WorkKind.SEGMENT)) or 0
    return AnalysisSummary(evidence_id, n_tracks, int(frames), time.monotonic() - started, first[0] if first else None,
                           copy_s)
