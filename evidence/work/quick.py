"""The ``quick`` work item: keyframe triage of long footage, first in the queue. Only key frames
(found by the ingest, at most one per ``EVIDENCE_QUICK_PASS_EVERY_S``) are decoded, one embedding
is taken per person seen, and at most one provisional candidate is raised per watchlist subject,
as soon as it is found. The full analysis supersedes these candidates when it is done."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlalchemy import select

from evidence.db.tables import CandidateRow, FaceTrackRow
from evidence.mediaio import KEYFRAMES, iter_frames, keyframe_times
from evidence.ordered import ordered_map
from evidence.runtime import Runtime
from evidence.work.contract import Hooks, ItemLease, Job, Outcome
from evidence.work.results import QUICK_SEGMENT, Recorder, Watchlist, clear_unreviewed
from pipeline.analysis import TrackEvent, quick_faces
from pipeline.faces import detect_faces
from pipeline.tracking import TrackerParams
from pipeline.types import FaceDetection, Frame
from pipeline.watchlist import match_watchlist

__all__ = ["quick_keyframes", "run_quick"]


def quick_keyframes(times: list[float], every_s: float) -> list[int]:
    """Indices of the key frames the quick pass looks at: at most one per ``every_s`` seconds."""
    chosen: list[int] = []
    for i, t in enumerate(times):
        if not chosen or t - times[chosen[-1]] >= every_s - 1e-6:
            chosen.append(i)
    return chosen


def run_quick(rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome:
    with rt.sessions.begin() as s:
        lease.fence(s)
        clear_unreviewed(s, job.evidence_id, QUICK_SEGMENT)
        watchlist = Watchlist.load(s, rt, job.evidence_id)
        alerted = set(s.scalars(select(CandidateRow.subject_id).join(FaceTrackRow).where(
            CandidateRow.evidence_id == job.evidence_id, FaceTrackRow.segment == QUICK_SEGMENT)))
    if not watchlist.subjects:
        return Outcome(0, {"skipped": "empty watchlist"})
    # The ingest found the key frames; a plan made before it kept them is read again here.
    times = list(job.plan.get(KEYFRAMES) or keyframe_times(job.original, job.name))
    chosen = set(quick_keyframes(times, rt.settings.quick_pass_every_s))
    spacing = float(np.median(np.diff(sorted(times[i] for i in chosen)))) if len(chosen) > 1 else 2.0
    params = TrackerParams(max_gap_s=2.5 * spacing, max_shift_widths=3.0, embed_to_associate=False)
    duration = max(job.media.duration_s, 1e-6)
    looked = [0]

    def keyframes() -> Iterator[Frame]:
        for frame in iter_frames(job.original, job.media, None, threads=rt.settings.decode_threads,
                                 keyframe_times_s=times):
            if frame.index in chosen:
                looked[0] += 1
                lease.beat(frame.t_s / duration, hooks)
                yield frame

    m, face = rt.faces, rt.analysis.face

    def detect(frame: Frame) -> tuple[Frame, list[FaceDetection]]:
        return frame, detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px)

    recorder = Recorder(rt, job.evidence_id, job.sha256, lease, QUICK_SEGMENT, watchlist, hooks.on_candidate)
    detected = ordered_map(detect, keyframes(), rt.analysis.workers, inflight=4 * rt.analysis.workers)
    people = 0
    for track in quick_faces(detected, m.embedder, params):
        people += 1
        # A cheap gate before storing anything: the recorder matches again, leaving out subjects a
        # person already rejected for this track (a re-run), which can only narrow these matches.
        if match_watchlist(track, watchlist.subjects, watchlist.threshold, rt.analysis.max_candidates,
                           frozenset(alerted)):
            raised = recorder.record(TrackEvent("closed", track, looked[0]), exclude=frozenset(alerted))
            alerted.update(c.subject_id for c in raised)
    return Outcome(looked[0], {"keyframes": len(times), "looked_at": looked[0], "people": people,
                               "subjects_alerted": len(alerted), "threshold": round(watchlist.threshold, 4)})
