"""The ``segment`` work item: faces in one stretch of the clip. Frames are decoded at the sample
rate, faces detected (threads) and tracked; each track is stored as it opens and as it closes,
with its candidates, so the control room sees a match while the clip is still being analysed."""

from __future__ import annotations

from collections.abc import Iterator

from evidence.mediaio import DecodeReport, iter_frames
from evidence.ordered import ordered_map
from evidence.runtime import Runtime
from evidence.work.contract import Hooks, ItemLease, Job, Outcome
from evidence.work.results import Recorder, Watchlist, clear_unreviewed
from pipeline.analysis import analyse_faces
from pipeline.faces import detect_faces, detect_faces_near
from pipeline.types import Box, FaceDetection, Frame

__all__ = ["run_segment"]


def run_segment(rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome:
    with rt.sessions.begin() as s:
        lease.fence(s)
        clear_unreviewed(s, job.evidence_id, job.index)
        watchlist = Watchlist.load(s, rt)
    report = DecodeReport()
    seen = [0]

    def counted(frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            seen[0] += 1
            lease.beat(job.done_at(frame.t_s), hooks)
            yield frame

    m, face = rt.faces, rt.analysis.face
    frames = counted(iter_frames(job.original, job.media, rt.analysis.fps, report, start_s=job.start_s,
                                 end_s=job.end_s, threads=rt.settings.decode_threads))

    def detect(frame: Frame) -> tuple[Frame, list[FaceDetection] | None]:
        if not face.needs_full_pass(frame):
            return frame, None
        return frame, detect_faces(frame, m.detector, m.aligner, face.detect_scale, face.min_face_px)

    def detect_near(frame: Frame, boxes: list[Box]) -> list[FaceDetection]:
        return detect_faces_near(frame, boxes, m.detector, m.aligner, face.min_face_px)

    recorder = Recorder(rt, job.evidence_id, job.sha256, lease, job.index, watchlist, hooks.on_candidate)
    detected = ordered_map(detect, frames, rt.analysis.workers, inflight=4 * rt.analysis.workers)
    for event in analyse_faces(detected, detect_near, m.embedder, face):
        recorder.record(event)
    return Outcome(seen[0], {"tracks": recorder.tracks, "decode_warnings": report.warnings[:20],
                             "watchlist": watchlist.record()})
